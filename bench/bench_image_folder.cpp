// Image-folder input throughput: how many images per second ImageFolderDataset decodes and cuts to
// the model's input (PNG/JPEG -> RGB -> Resize + CenterCrop), batch by batch in a seeded shuffled
// order as training reads them, on the OpenMP threads of this process. The peer is torchvision's
// ImageFolder + DataLoader on the same files (bench/peer_torchvision_folder.py). Prints a table and
// writes JSON (--json FILE).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "runtime/data/image_folder_dataset.h"
#include "runtime/error.h"

using namespace temper;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"image-folder decoding benchmark"};
  std::string data, json_out;
  int64_t size = 224, resize = 256, batch = 64, max_images = 0;
  int threads = 0;
  app.add_option("--data", data, "a folder of class folders of PNG/JPEG files")->required();
  app.add_option("--image-size", size)->capture_default_str();
  app.add_option("--resize", resize, "shorter side before the centre crop")->capture_default_str();
  app.add_option("--batch", batch)->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str();
  app.add_option("--images", max_images, "read at most this many (0: all)");
  app.add_option("--threads", threads, "OpenMP threads (0: the default)");
  app.add_option("--json", json_out);
  CLI11_PARSE(app, argc, argv);
  try {
    if (threads > 0) omp_set_num_threads(threads);
    ImageFolderDataset ds(data, ImageFolderOptions{size, resize, {}});
    const int64_t n = max_images > 0 ? std::min(max_images, ds.size()) : ds.size();
    std::vector<int64_t> order(static_cast<size_t>(ds.size()));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(1));
    ds.read({order.front()});  // warm-up: page cache, decoder tables
    const auto t0 = Clock::now();
    for (int64_t begin = 0; begin < n; begin += batch) {
      const std::vector<int64_t> rows(order.begin() + begin, order.begin() + std::min(n, begin + batch));
      ds.read(rows);
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const int used = threads > 0 ? threads : omp_get_max_threads();
    std::printf("%-10s %8s %8s %6s %7s %10s %12s\n", "images", "size", "resize", "batch", "threads", "seconds",
                "images/s");
    std::printf("%-10lld %8lld %8lld %6lld %7d %10.2f %12.1f\n", static_cast<long long>(n),
                static_cast<long long>(size), static_cast<long long>(resize), static_cast<long long>(batch), used, s,
                static_cast<double>(n) / s);
    const nlohmann::json j = {{"images", n}, {"image_size", size}, {"resize", resize}, {"batch", batch},
                              {"threads", used}, {"seconds", s}, {"images_per_s", static_cast<double>(n) / s}};
    if (!json_out.empty()) std::ofstream(json_out) << j.dump(1) << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_image_folder: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
