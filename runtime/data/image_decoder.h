// Decoding one PNG or JPEG file (told by its first bytes, not its name) into 8-bit RGB, as
// torchvision's ImageFolder loader sees it (PIL's Image.open(path).convert("RGB")): grey is copied to
// three channels, alpha and PNG transparency are dropped (not blended), 16-bit PNG samples keep their
// high byte, a palette is looked up; JPEG uses libjpeg's accurate integer IDCT and fancy upsampling
// (PIL's defaults), no EXIF rotation. One difference: a 16-bit grey PNG keeps its high byte where PIL
// clips the 16-bit value to 255. Files are untrusted: the size is checked against kMaxImagePixels
// before any pixel buffer exists, and a truncated or corrupt file is an InputError naming it.
// libpng and libjpeg report errors by longjmp, so each decoder keeps them inside C-style functions
// whose frames hold no C++ objects (png_decoder.cpp, jpeg_decoder.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace temper {

// Larger images are refused (PIL's decompression-bomb error threshold is about 179M pixels).
constexpr int64_t kMaxImagePixels = int64_t{1} << 27;

struct RgbImage {
  int64_t h = 0, w = 0;
  std::vector<uint8_t> pixels;  // [h, w, 3] row-major
};

enum class ImageFormat { Png, Jpeg, Unknown };

ImageFormat sniff_image_format(const uint8_t* data, size_t size);
// Whether the file at `path` starts with a PNG or JPEG signature (false when it cannot be read).
bool file_starts_as_image(const std::string& path);

// Decodes the file at `path`. InputError (file = path) when it cannot be read, is neither PNG nor
// JPEG, is too large, or does not decode; the message carries the decoder's reason.
RgbImage decode_image_file(const std::string& path);

// The same for bytes already in memory; `name` is the file named in errors.
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name);

// Whether this build links the PNG and JPEG decoders (libpng, libjpeg).
bool image_decoding_available();

namespace detail {
RgbImage decode_png(const uint8_t* data, size_t size, const std::string& name);
RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name);
}  // namespace detail

}  // namespace temper
