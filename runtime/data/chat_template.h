// Chat prompts for generation. A model's chat template is Jinja; temper does not run Jinja (it never
// executes what a file contains). It recognises the ChatML family (<|im_start|>role\ncontent<|im_end|>),
// including a default system message the template inserts when none is given, and renders that
// exactly as transformers' apply_chat_template(..., add_generation_prompt=True) does.
#pragma once
#include <optional>
#include <string>

namespace temper {

// The rendered prompt for one user turn (and an optional system message), or nullopt when the
// template is not one temper recognises.
std::optional<std::string> render_chat_prompt(const std::string& chat_template, const std::string& system,
                                              const std::string& user);

}  // namespace temper
