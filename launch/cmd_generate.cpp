// `temper generate`: sample a continuation of a prompt.
#include <cstdio>

#include "launch/commands.h"
#include "launch/common_options.h"
#include "models/model_loader.h"
#include "runtime/data/bpe_tokenizer.h"
#include "runtime/data/chat_template.h"
#include "runtime/data/tokenizer_loader.h"
#include "runtime/logger.h"
#include "runtime/infer/sampler.h"

namespace temper::cli {
namespace {

struct GenerateFlags {
  std::string model, prompt, system, chat = "auto";
  SamplingOptions sampling;
  DeviceOptions dev;
};

// The prompt as the model saw it in training: its chat template applied when it has one (--chat auto).
std::string chat_text(const GenerateFlags& f, const Tokenizer& tokenizer) {
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tokenizer);
  const std::string tmpl = bpe ? bpe->chat_template() : std::string();
  if (f.chat == "off" || tmpl.empty()) {
    TEMPER_INPUT_CHECK(f.chat != "on", "--chat", "on", "the model has no chat template");
    return f.prompt;
  }
  const std::optional<std::string> rendered = render_chat_prompt(tmpl, f.system, f.prompt);
  TEMPER_INPUT_CHECK(rendered || f.chat != "on", "--chat", "on", "the model's chat template is not ChatML");
  if (!rendered) log_warn("the model's chat template is not ChatML; using the raw prompt");
  return rendered.value_or(f.prompt);
}

int run(const GenerateFlags& f) {
  const Device device = resolve_device(f.dev);
  auto tokenizer = load_tokenizer(f.model);
  auto model = load_causal_lm(f.model, device, resolve_precision(f.dev, device));
  const std::string text = chat_text(f, *tokenizer);
  const std::vector<int32_t> ids = tokenizer->encode(text);
  TEMPER_INPUT_CHECK(!ids.empty(), "--prompt", "value", "the prompt encodes to no tokens");
  std::fputs(text.c_str(), stdout);
  std::vector<int32_t> pending;  // ids not yet printed (a UTF-8 character may span tokens)
  generate(*model, ids, tokenizer->eos_id(), f.sampling, [&](int32_t id) {
    pending.push_back(id);
    const std::string text = tokenizer->decode(pending);
    if (text.find("\xEF\xBF\xBD") != std::string::npos && pending.size() < 4) return;
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    pending.clear();
  });
  if (!pending.empty()) std::fputs(tokenizer->decode(pending).c_str(), stdout);
  std::fputs("\n", stdout);
  return 0;
}

}  // namespace

Runner add_generate(CLI::App& app) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* c = app.add_subcommand("generate", "generate text from a prompt");
  c->add_option("--model", f->model, "model directory (HF layout)")->required();
  c->add_option("--prompt", f->prompt, "prompt text")->required();
  c->add_option("--chat", f->chat, "apply the model's chat template: auto (when it has one) | on | off")
      ->check(CLI::IsMember({"auto", "on", "off"}))->capture_default_str();
  c->add_option("--system", f->system, "system message for chat models (default: the template's)");
  c->add_option("--max-tokens", f->sampling.max_new_tokens, "tokens to generate")->check(CLI::Range(int64_t(0), int64_t(1) << 20))->capture_default_str();
  c->add_option("--temperature", f->sampling.temperature, "sampling temperature (0: greedy)")->check(CLI::Range(0.0, 100.0))->capture_default_str();
  c->add_option("--top-k", f->sampling.top_k, "sample from the k most likely tokens (0: all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--seed", f->sampling.seed, "sampling seed")->capture_default_str();
  add_device_options(*c, f->dev);
  add_config_option(*c);
  return [f] { return run(*f); };
}

}  // namespace temper::cli
