// ChatML prompts rendered exactly as transformers' apply_chat_template renders SmolLM2's template
// (expected strings in tests/fixtures/tokenizer/smollm2_chat.json, written by transformers).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "runtime/data/chat_template.h"

using namespace temper;

TEST(ChatTemplate, ChatMlMatchesTransformers) {
  std::ifstream in(std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/tokenizer/smollm2_chat.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& c : j["cases"]) {
    const std::string system = c["system"].is_null() ? "" : c["system"].get<std::string>();
    const auto text = render_chat_prompt(j["template"], system, c["user"]);
    ASSERT_TRUE(text.has_value());
    EXPECT_EQ(*text, c["text"].get<std::string>());
  }
}

TEST(ChatTemplate, UnknownTemplatesAreNotGuessed) {
  EXPECT_FALSE(render_chat_prompt("{{ bos_token }}[INST] {{ message['content'] }} [/INST]", "", "hi").has_value());
  EXPECT_FALSE(render_chat_prompt("", "", "hi").has_value());
}
