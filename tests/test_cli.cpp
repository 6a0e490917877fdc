// End-to-end tests of the temper program: fine-tuning lowers validation perplexity, the output
// reloads in eval/generate with the same loss, resume reproduces losses exactly, and bad input
// gets one clear line and a non-zero exit.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace {

const std::string kSrc = TEMPER_SOURCE_DIR;
const std::string kBin = TEMPER_BIN;
const std::string kDemo = kSrc + "/tests/fixtures/gpt2_demo";
const std::string kTrain = kSrc + "/tests/fixtures/text/finetune_train.txt";
const std::string kValid = kSrc + "/tests/fixtures/text/finetune_valid.txt";

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result run(const std::string& args, const std::string& tmp) {
  const std::string out = tmp + "/stdout.txt", err = tmp + "/stderr.txt";
  const std::string cmd = kBin + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = (fs::temp_directory_path() / ("temper_cli_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }
  std::string finetune_args(const std::string& out, int steps) const {
    return "finetune --model " + kDemo + " --train " + kTrain + " --valid " + kValid + " --output " + out +
           " --seq-len 32 --micro-batch 4 --grad-accum 2 --lr 2e-3 --warmup-steps 2 --progress plain --max-steps " +
           std::to_string(steps);
  }
  std::string tmp_;
};

std::vector<nlohmann::json> records(const std::string& metrics, const std::string& type) {
  std::vector<nlohmann::json> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == type) out.push_back(j);
  }
  return out;
}

// Exactly one error line, and it is the last line (progress/info lines may precede it).
bool one_line(const std::string& err) {
  size_t errors = 0;
  std::istringstream in(err);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.find("error") != std::string::npos) ++errors;
    last = line;
  }
  return errors == 1 && last.rfind("temper: error: ", 0) == 0;
}

TEST_F(Cli, FinetuneLowersPerplexityAndOutputReloadsWithSameLoss) {
  const std::string out = tmp_ + "/out";
  Result r = run(finetune_args(out, 40), tmp_);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  EXPECT_LT(double(summary["val_perplexity_end"]), double(summary["val_perplexity_start"]));
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  Result e = run("eval --model " + out + " --data " + kValid + " --seq-len 32 --batch 4", tmp_);
  ASSERT_EQ(e.code, 0) << e.err;
  const auto ev = nlohmann::json::parse(e.out);
  EXPECT_NEAR(double(ev["loss"]), double(summary["val_loss_end"]), 1e-6);
  Result g = run("generate --model " + out + " --prompt \"The meaning of life\" --max-tokens 12 --top-k 20 --seed 3",
                 tmp_);
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(g.out.rfind("The meaning of life", 0), 0u) << g.out;
  EXPECT_GT(g.out.size(), std::string("The meaning of life\n").size());
}

TEST_F(Cli, ResumeReproducesTheUninterruptedLossesExactly) {
  Result a = run(finetune_args(tmp_ + "/a", 6), tmp_);
  ASSERT_EQ(a.code, 0) << a.err;
  Result b = run(finetune_args(tmp_ + "/b", 6) + " --save-every 3", tmp_);
  ASSERT_EQ(b.code, 0) << b.err;
  ASSERT_TRUE(fs::exists(tmp_ + "/b/checkpoints/step-00000003/trainer_state.json"));
  fs::create_directories(tmp_ + "/c");
  fs::copy(tmp_ + "/b/checkpoints", tmp_ + "/c/checkpoints", fs::copy_options::recursive);
  Result c = run(finetune_args(tmp_ + "/c", 6) + " --resume latest", tmp_);
  ASSERT_EQ(c.code, 0) << c.err;
  const auto full = records(tmp_ + "/a/metrics.jsonl", "train");
  const auto resumed = records(tmp_ + "/c/metrics.jsonl", "train");
  ASSERT_EQ(full.size(), 6u);
  ASSERT_EQ(resumed.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(resumed[i]["step"], full[i + 3]["step"]);
    EXPECT_EQ(resumed[i]["loss"].dump(), full[i + 3]["loss"].dump()) << "step " << resumed[i]["step"];
  }
}

TEST_F(Cli, ResumeRefusesAPartialCheckpoint) {
  Result b = run(finetune_args(tmp_ + "/b", 4) + " --save-every 2", tmp_);
  ASSERT_EQ(b.code, 0) << b.err;
  fs::remove(tmp_ + "/b/checkpoints/step-00000002/trainer_state.json");
  Result c = run(finetune_args(tmp_ + "/b", 4) + " --resume latest", tmp_);
  EXPECT_NE(c.code, 0);
  EXPECT_TRUE(one_line(c.err)) << c.err;
  EXPECT_NE(c.err.find("trainer_state.json"), std::string::npos) << c.err;
}

struct BadCase {
  std::string name, args, must_mention;
};

TEST_F(Cli, BadInputGetsOneClearLineAndNonZeroExit) {
  // Model directories with one thing wrong each.
  const std::string unknown = tmp_ + "/unknown", mismatch = tmp_ + "/mismatch", corrupt = tmp_ + "/corrupt",
                    small_vocab = tmp_ + "/small_vocab";
  for (const std::string& d : {unknown, mismatch, corrupt}) fs::copy(kDemo, d, fs::copy_options::recursive);
  fs::copy(kSrc + "/tests/fixtures/gpt2_tiny", small_vocab, fs::copy_options::recursive);
  fs::copy_file(kDemo + "/tokenizer.json", small_vocab + "/tokenizer.json");
  auto cfg = nlohmann::json::parse(slurp(kDemo + "/config.json"));
  auto bad_type = cfg;
  bad_type["model_type"] = "mamba";
  std::ofstream(unknown + "/config.json") << bad_type.dump();
  auto bad_embd = cfg;
  bad_embd["n_embd"] = 68;
  std::ofstream(mismatch + "/config.json") << bad_embd.dump();
  fs::resize_file(corrupt + "/model.safetensors", 5000);
  const std::string empty = tmp_ + "/empty.txt";
  std::ofstream(empty).close();
  const std::string tiny = tmp_ + "/tiny.txt";
  std::ofstream(tiny) << "Too short.";
  const std::string data = " --train " + kTrain + " --output " + tmp_ + "/o --max-steps 1 --seq-len 16";

  const std::vector<BadCase> cases = {
      {"missing model", "finetune --model " + tmp_ + "/nope" + data, "nope"},
      {"unknown model type", "finetune --model " + unknown + data, "model_type"},
      {"config vs tensors", "finetune --model " + mismatch + data, "does not match config.json"},
      {"truncated safetensors", "finetune --model " + corrupt + data, "model.safetensors"},
      {"empty data set", "finetune --model " + kDemo + " --train " + empty + " --output " + tmp_ + "/o", "empty.txt"},
      {"too little data", "finetune --model " + kDemo + " --train " + tiny + " --output " + tmp_ + "/o", "tiny.txt"},
      {"token ids beyond vocab", "finetune --model " + small_vocab + data, "token id"},
      {"missing data file", "finetune --model " + kDemo + " --train " + tmp_ + "/absent.txt", "absent.txt"},
      {"seq-len beyond context", "finetune --model " + kDemo + " --train " + kTrain + " --seq-len 4096", "--seq-len"},
      {"negative lr", "finetune --model " + kDemo + " --train " + kTrain + " --lr -1", "--lr"},
      {"zero seq-len", "finetune --model " + kDemo + " --train " + kTrain + " --seq-len 0", "--seq-len"},
      {"non-numeric batch", "finetune --model " + kDemo + " --train " + kTrain + " --micro-batch many", "--micro-batch"},
      {"unknown device", "finetune --model " + kDemo + " --train " + kTrain + " --device tpu", "--device"},
      {"unknown flag", "finetune --model " + kDemo + " --train " + kTrain + " --learning-rate 3", "--learning-rate"},
      {"inspect corrupt", "inspect " + corrupt, "model.safetensors"},
  };
  for (const BadCase& c : cases) {
    Result r = run(c.args, tmp_);
    EXPECT_NE(r.code, 0) << c.name;
    EXPECT_TRUE(one_line(r.err)) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.must_mention), std::string::npos) << c.name << ": " << r.err;
  }
}

// Full fine-tuning of the real SmolLM2 GGUF (dequantized): an HF directory with the model and the
// tokenizer (from the GGUF metadata) comes out, and reloads with the run's validation loss.
TEST_F(Cli, FinetuneFromGgufWritesAnHfDirectory) {
  const std::string gguf = kSrc + "/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(fs::exists(gguf)) << "run tools/fetch_smollm2.sh";
  const std::string out = tmp_ + "/out";
  Result r = run("finetune --model " + gguf + " --train " + kTrain + " --valid " + kValid + " --output " + out +
                     " --seq-len 32 --micro-batch 2 --max-steps 2 --eval-batches 2 --lr 1e-5 --progress off --recompute",
                 tmp_);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  EXPECT_EQ(nlohmann::json::parse(slurp(out + "/config.json"))["model_type"], "llama");
  Result e = run("eval --model " + out + " --data " + kValid + " --seq-len 32 --batch 2 --max-batches 2", tmp_);
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NEAR(double(nlohmann::json::parse(e.out)["loss"]), double(summary["val_loss_end"]), 1e-5);
}

// LoRA on the real SmolLM2 GGUF: a PEFT adapter directory comes out (the base stays frozen), and
// `temper eval` on it loads the base it names plus the adapter, with the run's validation loss.
TEST_F(Cli, LoraFinetuneWritesAPeftAdapterThatReloads) {
  const std::string gguf = kSrc + "/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(fs::exists(gguf)) << "run tools/fetch_smollm2.sh";
  const std::string out = tmp_ + "/lora";
  Result r = run("finetune --model " + gguf + " --train " + kTrain + " --valid " + kValid + " --output " + out +
                     " --seq-len 32 --micro-batch 2 --max-steps 2 --eval-batches 2 --lr 1e-3 --progress off" +
                     " --lora-r 4 --lora-alpha 8 --lora-targets q_proj,v_proj,down_proj",
                 tmp_);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
  EXPECT_EQ(nlohmann::json::parse(slurp(out + "/adapter_config.json"))["r"], 4);
  Result e = run("eval --model " + out + " --data " + kValid + " --seq-len 32 --batch 2 --max-batches 2", tmp_);
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NEAR(double(nlohmann::json::parse(e.out)["loss"]), double(summary["val_loss_end"]), 1e-5);
  Result bad = run("finetune --model " + gguf + " --train " + kTrain + " --lora-r 4 --lora-targets q_proj,wq", tmp_);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--lora-targets"), std::string::npos) << bad.err;
}

// QLoRA on the real SmolLM2 GGUF: the base projections stay in the file's Q4_1 blocks, adapters train
// with dropout; since those blocks dequantize to exactly the weights `temper eval` loads, the
// adapter evaluates to the run's validation loss. A resume must keep the dropout.
TEST_F(Cli, QloraKeepsTheGgufBlocksAndItsAdapterReloads) {
  const std::string gguf = kSrc + "/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(fs::exists(gguf)) << "run tools/fetch_smollm2.sh";
  const std::string out = tmp_ + "/qlora";
  Result r = run("finetune --model " + gguf + " --train " + kTrain + " --valid " + kValid + " --output " + out +
                     " --seq-len 32 --micro-batch 2 --max-steps 2 --eval-batches 2 --lr 1e-3 --progress off" +
                     " --lora-r 4 --lora-alpha 8 --lora-dropout 0.1 --lora-targets q_proj,v_proj,down_proj --qlora keep" +
                     " --save-every 1",
                 tmp_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("210 quantized projections"), std::string::npos) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  const auto config = nlohmann::json::parse(slurp(out + "/adapter_config.json"));
  EXPECT_NEAR(double(config["lora_dropout"]), 0.1, 1e-6);
  Result e = run("eval --model " + out + " --data " + kValid + " --seq-len 32 --batch 2 --max-batches 2", tmp_);
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NEAR(double(nlohmann::json::parse(e.out)["loss"]), double(summary["val_loss_end"]), 1e-5);
  // Resuming with another dropout would draw other masks: refused, naming the setting.
  Result resume = run("finetune --model " + gguf + " --train " + kTrain + " --valid " + kValid + " --output " + out +
                          " --seq-len 32 --micro-batch 2 --max-steps 3 --progress off --lora-r 4 --lora-alpha 8" +
                          " --lora-dropout 0.2 --lora-targets q_proj,v_proj,down_proj --qlora keep --resume latest",
                      tmp_);
  EXPECT_NE(resume.code, 0);
  EXPECT_NE(resume.err.find("training_settings"), std::string::npos) << resume.err;
  Result bad = run("finetune --model " + gguf + " --train " + kTrain + " --qlora q4_0", tmp_);
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(one_line(bad.err)) << bad.err;
  EXPECT_NE(bad.err.find("--lora-r"), std::string::npos) << bad.err;
}

// Sequence classification: all-MiniLM-L6-v2 on the movie-review sentiment sentences (both fetched by
// scripts/test.sh): the output is a BertForSequenceClassification directory with id2label and the
// tokenizer, the summary carries validation and test accuracy / macro-F1, `temper predict` and
// `temper eval` load it; a missing label column is one clear error line.
TEST_F(Cli, ClassificationFinetuneWritesAnHfClassifier) {
  const std::string model = kSrc + "/.cache/minilm", data = kSrc + "/.cache/data/sentiment";
  if (!fs::exists(model + "/model.safetensors") || !fs::exists(data + "/train.tsv"))
    GTEST_SKIP() << "run tools/fetch_minilm.sh and tools/prepare_sentiment.sh";
  const std::string out = tmp_ + "/cls";
  Result r = run("finetune --model " + model + " --train " + data + "/valid.tsv --valid-fraction 0.25 --test " + data +
                     "/test.tsv --output " + out + " --seq-len 32 --micro-batch 8 --max-steps 3 --eval-batches 2" +
                     " --lr 5e-5 --progress off",
                 tmp_);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  for (const char* key : {"val_accuracy_start", "val_accuracy_end", "val_macro_f1_end", "test_accuracy", "test_macro_f1"})
    EXPECT_TRUE(summary.contains(key)) << key;
  EXPECT_EQ(summary["test_confusion"].size(), 2u);
  const auto config = nlohmann::json::parse(slurp(out + "/config.json"));
  EXPECT_EQ(config["architectures"][0], "BertForSequenceClassification");
  EXPECT_EQ(config["id2label"]["1"], "positive");
  for (const char* f : {"model.safetensors", "tokenizer.json", "vocab.txt", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  // `temper predict` classifies lines from a file, in order, with a probability.
  std::ofstream(tmp_ + "/lines.txt") << "a gorgeous, witty, seductive movie.\n\nthe plot is nothing but cliches.\n";
  Result p = run("predict --model " + out + " --input " + tmp_ + "/lines.txt", tmp_);
  ASSERT_EQ(p.code, 0) << p.err;
  std::istringstream lines(p.out);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    EXPECT_TRUE(line.rfind("positive\t", 0) == 0 || line.rfind("negative\t", 0) == 0) << line;
    const double prob = std::stod(line.substr(line.find('\t') + 1));
    EXPECT_TRUE(prob >= 0.5 && prob <= 1.0) << line;
  }
  EXPECT_EQ(n, 2);
  Result image = run("predict --model " + out + " --input " + kSrc + "/tests/fixtures/image_folder/valid/bee/v1.png", tmp_);
  EXPECT_NE(image.code, 0);
  EXPECT_TRUE(one_line(image.err)) << image.err;
  EXPECT_NE(image.err.find("an image file"), std::string::npos) << image.err;
  // `temper eval` on the test file repeats the fine-tune's test figures; a label the model lacks is refused.
  Result e = run("eval --model " + out + " --data " + data + "/test.tsv --seq-len 32 --batch 16", tmp_);
  ASSERT_EQ(e.code, 0) << e.err;
  const auto scored = nlohmann::json::parse(e.out);
  EXPECT_EQ(scored["confusion"], summary["test_confusion"]);
  EXPECT_EQ(scored["accuracy"], summary["test_accuracy"]);
  EXPECT_NEAR(double(scored["loss"]), double(summary["test_loss"]), 1e-6);
  std::ofstream(tmp_ + "/neutral.tsv") << "text\tlabel\nfine, i guess\tneutral\n";
  Result unknown = run("eval --model " + out + " --data " + tmp_ + "/neutral.tsv", tmp_);
  EXPECT_NE(unknown.code, 0);
  EXPECT_TRUE(one_line(unknown.err)) << unknown.err;
  EXPECT_NE(unknown.err.find("neutral"), std::string::npos) << unknown.err;
  Result bad = run("finetune --model " + model + " --train " + data + "/valid.tsv --label-field sentiment --output " +
                       out + "2",
                   tmp_);
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(one_line(bad.err)) << bad.err;
  EXPECT_NE(bad.err.find("sentiment"), std::string::npos) << bad.err;
}

TEST_F(Cli, InspectListsTensorsAndParameterCount) {
  Result r = run("inspect " + kDemo, tmp_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("transformer.wte.weight"), std::string::npos);
  EXPECT_NE(r.out.find("236288 parameters"), std::string::npos) << r.out;
}

TEST_F(Cli, ConfigFileValuesAreOverriddenByFlags) {
  const std::string toml = tmp_ + "/run.toml";
  std::ofstream(toml) << "model = \"" << kDemo << "\"\ntrain = \"" << kTrain << "\"\nvalid = \"" << kValid
                      << "\"\nseq-len = 16\nmicro-batch = 2\nmax-steps = 3\nprogress = \"off\"\n";
  Result r = run("finetune --config " + toml + " --output " + tmp_ + "/o --max-steps 2", tmp_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["steps"], 2);
  EXPECT_EQ(records(tmp_ + "/o/metrics.jsonl", "train").size(), 2u);
}

}  // namespace
