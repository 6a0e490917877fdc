#!/usr/bin/env python3
"""LoRA reference from HF PEFT on the llama_gqa fixture (tools/make_fixtures.py): adapters (r 4,
alpha 8) on all seven projections, A and B set to random values (PEFT starts B at zero, which would
hide the adapter), saved with save_pretrained (adapter_config.json + adapter_model.safetensors), then
logits, loss and every adapter gradient for the fixture's batch in reference.safetensors.
Run: python3 tools/make_lora_fixture.py  (needs torch, transformers, peft)."""
import json
import os
import shutil

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BASE = os.path.join(ROOT, "tests", "fixtures", "llama_gqa")
OUT = os.path.join(ROOT, "tests", "fixtures", "llama_gqa_lora")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    base = LlamaForCausalLM.from_pretrained(BASE, attn_implementation="eager").float().eval()
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    torch.manual_seed(9)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.normal_(0.0, 0.05)
    model.save_pretrained(OUT)
    os.remove(os.path.join(OUT, "README.md"))  # PEFT's generated model card
    cfg_path = os.path.join(OUT, "adapter_config.json")
    with open(cfg_path) as f:
        adapter_cfg = json.load(f)
    adapter_cfg["base_model_name_or_path"] = "../llama_gqa"  # not this machine's absolute path
    with open(cfg_path, "w") as f:
        json.dump(adapter_cfg, f, indent=2, sort_keys=True)
    ref = load_file(os.path.join(BASE, "reference.safetensors"))
    tokens, targets = ref["tokens"].long(), ref["targets"].long()
    logits = model(input_ids=tokens).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
    loss.backward()
    out = {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32), "logits": logits.detach().contiguous(),
           "loss": loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        if p.requires_grad:
            out["grad." + name.replace(".default", "")] = p.grad.detach().contiguous()
    save_file(out, os.path.join(OUT, "reference.safetensors"))
    print(f"llama_gqa_lora: loss {loss.item():.6f}, {len(out) - 4} adapter gradients")


if __name__ == "__main__":
    main()
