// temper entry point: joins the world (mpirun/srun or alone), parses the subcommand, runs it, and
// turns any error into one clear line on stderr and a non-zero exit (libraries throw; only main
// decides how the process ends). A rank that fails while others run ends the whole job (MPI_Abort),
// so no peer waits for it.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "launch/commands.h"
#include "launch/config_file.h"
#include "runtime/comm/world.h"
#include "runtime/error.h"

namespace {

// The error line, then (with peers) the end of the whole job. temper's checks name the rank
// already; other exceptions (std::filesystem, JSON, bad_alloc) get the prefix here.
int fail(const std::string& what, int code = 1) {
  const int ranks = temper::world().world_size;
  const std::string prefix = "[rank " + std::to_string(temper::world().rank) + "] ";
  const bool named = what.rfind(prefix, 0) == 0;
  std::fprintf(stderr, "temper: error: %s%s\n", ranks > 1 && !named ? prefix.c_str() : "", what.c_str());
  if (ranks > 1) temper::abort_world(code);
  return code;
}

int run(int argc, char** argv) {
  CLI::App app{"temper: fine-tune pre-trained language models on CPU or CUDA"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "temper 0.1.0");
  temper::cli::Runner finetune = temper::cli::add_finetune(app);
  temper::cli::Runner eval = temper::cli::add_eval(app);
  temper::cli::Runner generate = temper::cli::add_generate(app);
  temper::cli::Runner inspect = temper::cli::add_inspect(app);
  temper::cli::Runner bench = temper::cli::add_bench(app);
  temper::cli::Runner merge = temper::cli::add_merge(app);
  temper::cli::Runner predict = temper::cli::add_predict(app);
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    args = temper::cli::expand_config_file(args);
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // ends the peers too: a config only one node sees would hang them
    return fail(std::string(e.what()) + " (see temper --help)", 2);
  } catch (const temper::Error& e) {
    return fail(e.what(), 2);
  }
  try {
    if (app.got_subcommand("finetune")) return finetune();
    if (app.got_subcommand("eval")) return eval();
    if (app.got_subcommand("generate")) return generate();
    if (app.got_subcommand("bench")) return bench();
    if (app.got_subcommand("merge")) return merge();
    if (app.got_subcommand("predict")) return predict();
    return inspect();
  } catch (const std::exception& e) {  // temper::Error included
    return fail(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    temper::init_world(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "temper: error: %s\n", e.what());
    return 1;
  }
  const int rc = run(argc, argv);
  temper::finalize_world();
  return rc;
}
