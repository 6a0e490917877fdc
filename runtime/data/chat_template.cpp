// ChatML recognition and rendering.
#include "runtime/data/chat_template.h"

namespace temper {
namespace {

constexpr const char* kStart = "<|im_start|>";
constexpr const char* kEnd = "<|im_end|>";

// The default system message a ChatML template writes when the first message is not a system one:
// the text between "<|im_start|>system\n" and the next "<|im_end|>" inside the template.
std::string default_system(const std::string& tmpl) {
  const std::string open = std::string(kStart) + "system\n";
  const size_t at = tmpl.find(open);
  if (at == std::string::npos) return "";
  const size_t begin = at + open.size(), end = tmpl.find(kEnd, begin);
  return end == std::string::npos ? "" : tmpl.substr(begin, end - begin);
}

std::string turn(const std::string& role, const std::string& content) {
  return std::string(kStart) + role + "\n" + content + kEnd + "\n";
}

}  // namespace

std::optional<std::string> render_chat_prompt(const std::string& tmpl, const std::string& system,
                                              const std::string& user) {
  const bool chatml = tmpl.find(kStart) != std::string::npos && tmpl.find(kEnd) != std::string::npos &&
                      tmpl.find("message['role']") != std::string::npos &&
                      tmpl.find("add_generation_prompt") != std::string::npos;
  if (!chatml) return std::nullopt;
  std::string out;
  const std::string sys = system.empty() ? default_system(tmpl) : system;
  if (!sys.empty()) out += turn("system", sys);
  out += turn("user", user);
  return out + kStart + "assistant\n";
}

}  // namespace temper
