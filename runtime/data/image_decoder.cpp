// Image file reading and format dispatch (see image_decoder.h); the decoders live in
// png_decoder.cpp and jpeg_decoder.cpp.
#include "runtime/data/image_decoder.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "runtime/error.h"

namespace temper {
namespace {

// An image file larger than this is refused before it is read (a 2^27-pixel PNG fits well below).
constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;

std::vector<uint8_t> read_image_bytes(const std::string& path) {
  std::error_code ec;
  TEMPER_INPUT_CHECK(!std::filesystem::is_directory(path, ec), path, "path", "a directory, not an image file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  TEMPER_INPUT_CHECK(in.good(), path, "path", "cannot open the image file (missing or unreadable)");
  const std::streamoff size = in.tellg();
  TEMPER_INPUT_CHECK(size >= 0 && size <= kMaxImageFileBytes, path, "size", "{} bytes: not an image file we read",
                     static_cast<int64_t>(size));
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  TEMPER_INPUT_CHECK(in.good() || size == 0, path, "path", "read error");
  return bytes;
}

}  // namespace

ImageFormat sniff_image_format(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::Png;
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return ImageFormat::Jpeg;
  return ImageFormat::Unknown;
}

bool file_starts_as_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  uint8_t head[8] = {};
  f.read(reinterpret_cast<char*>(head), sizeof head);
  return sniff_image_format(head, static_cast<size_t>(f.gcount())) != ImageFormat::Unknown;
}

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name) {
  switch (sniff_image_format(data, size)) {
    case ImageFormat::Png:
      return detail::decode_png(data, size, name);
    case ImageFormat::Jpeg:
      return detail::decode_jpeg(data, size, name);
    case ImageFormat::Unknown:
      break;
  }
  TEMPER_INPUT_CHECK(false, name, "format", "neither PNG nor JPEG data (the first bytes say so, whatever the name)");
  return {};
}

RgbImage decode_image_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_image_bytes(path);
  return decode_image(bytes.data(), bytes.size(), path);
}

bool image_decoding_available() {
#if defined(TEMPER_WITH_PNG) && defined(TEMPER_WITH_JPEG)
  return true;
#else
  return false;
#endif
}

}  // namespace temper
