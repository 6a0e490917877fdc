// temper entry point: parses the subcommand, runs it, and turns any error into one clear line
// on stderr and a non-zero exit (libraries throw; only main decides how the process ends).
#include <cstdio>

#include "launch/commands.h"
#include "runtime/error.h"

int main(int argc, char** argv) {
  CLI::App app{"temper: fine-tune pre-trained language models on CPU or CUDA"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "temper 0.1.0");
  temper::cli::Runner finetune = temper::cli::add_finetune(app);
  temper::cli::Runner eval = temper::cli::add_eval(app);
  temper::cli::Runner generate = temper::cli::add_generate(app);
  temper::cli::Runner inspect = temper::cli::add_inspect(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "temper: error: %s (see temper --help)\n", e.what());
    return 2;
  }
  try {
    if (app.got_subcommand("finetune")) return finetune();
    if (app.got_subcommand("eval")) return eval();
    if (app.got_subcommand("generate")) return generate();
    return inspect();
  } catch (const temper::Error& e) {
    std::fprintf(stderr, "temper: error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "temper: error: %s\n", e.what());
  }
  return 1;
}
