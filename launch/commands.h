// The temper subcommands. Each registers its flags on a CLI11 subcommand and runs when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace temper::cli {

// Registers a subcommand; the returned function runs it after parsing (exit code).
using Runner = std::function<int()>;
Runner add_finetune(CLI::App& app);
Runner add_eval(CLI::App& app);
Runner add_generate(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_merge(CLI::App& app);
Runner add_predict(CLI::App& app);  // classify lines with a fine-tuned BERT classifier
Runner add_bench(CLI::App& app);  // `temper bench comm`
Runner add_bench_attention(CLI::App* bench);  // `temper bench attention` (launch/cmd_bench_attention.cpp)
Runner add_bench_conv(CLI::App* bench);  // `temper bench conv` (launch/cmd_bench_conv.cpp)
Runner add_bench_cnn(CLI::App* bench);   // `temper bench cnn` (launch/cmd_bench_cnn.cpp)

}  // namespace temper::cli
