// PNG -> 8-bit RGB with libpng (see image_decoder.h for the conversions). libpng reports errors by
// longjmp to the frame that called setjmp, so the two functions that call into libpng hold only
// plain data; the C++ caller owns the buffers, checks sizes and turns a failure into an InputError.
#include <cstdio>
#include <cstring>

#include "runtime/data/image_decoder.h"
#include "runtime/error.h"

#ifdef TEMPER_WITH_PNG
#include <png.h>

namespace temper::detail {
namespace {

struct PngSource {
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
};

// Everything libpng touches; trivially destructible, released by PngRelease.
struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngSource src;
  char message[256] = "";
  png_uint_32 w = 0, h = 0;
  int passes = 1;
};

struct PngRelease {
  PngState* st;
  ~PngRelease() { png_destroy_read_struct(&st->png, st->info ? &st->info : nullptr, nullptr); }
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // ancillary-chunk complaints: PIL ignores them too

void on_png_read(png_structp png, png_bytep out, size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

// Reads the header and asks libpng for 8-bit RGB rows. false: st.message says why.
bool png_read_header(PngState& st) {
  if (setjmp(png_jmpbuf(st.png))) return false;
  png_set_read_fn(st.png, &st.src, on_png_read);
  png_read_info(st.png, st.info);
  const int color = png_get_color_type(st.png, st.info);
  if (png_get_bit_depth(st.png, st.info) == 16) png_set_strip_16(st.png);  // the high byte, as PIL
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st.png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_expand_gray_1_2_4_to_8(st.png);
    png_set_gray_to_rgb(st.png);
  }
  png_set_strip_alpha(st.png);  // also the alpha a palette's tRNS chunk would add
  st.passes = png_set_interlace_handling(st.png);
  png_read_update_info(st.png, st.info);
  st.w = png_get_image_width(st.png, st.info);
  st.h = png_get_image_height(st.png, st.info);
  return true;
}

// Decodes every row (every pass when interlaced) into out [h, w, 3].
bool png_read_pixels(PngState& st, uint8_t* out) {
  if (setjmp(png_jmpbuf(st.png))) return false;
  for (int pass = 0; pass < st.passes; ++pass)
    for (png_uint_32 y = 0; y < st.h; ++y) png_read_row(st.png, out + static_cast<size_t>(y) * st.w * 3, nullptr);
  return true;
}

}  // namespace

RgbImage decode_png(const uint8_t* data, size_t size, const std::string& name) {
  PngState st;
  st.src = PngSource{data, size, 0};
  st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning);
  TEMPER_CHECK(st.png != nullptr, "libpng: cannot create a read struct");
  PngRelease release{&st};
  st.info = png_create_info_struct(st.png);
  TEMPER_CHECK(st.info != nullptr, "libpng: cannot create an info struct");
  TEMPER_INPUT_CHECK(png_read_header(st), name, "PNG header", "{}", st.message);
  const int64_t pixels = int64_t{st.w} * st.h;
  TEMPER_INPUT_CHECK(pixels >= 1 && pixels <= kMaxImagePixels, name, "PNG size", "{}x{} pixels: more than {} refused",
                     st.w, st.h, kMaxImagePixels);
  TEMPER_INPUT_CHECK(png_get_channels(st.png, st.info) == 3 && png_get_bit_depth(st.png, st.info) == 8 &&
                         png_get_rowbytes(st.png, st.info) == size_t{st.w} * 3,
                     name, "PNG color type", "cannot be read as 8-bit RGB");
  RgbImage img{st.h, st.w, std::vector<uint8_t>(static_cast<size_t>(pixels) * 3)};
  TEMPER_INPUT_CHECK(png_read_pixels(st, img.pixels.data()), name, "PNG data", "{}", st.message);
  return img;
}

}  // namespace temper::detail

#else  // no libpng in this build

namespace temper::detail {
RgbImage decode_png(const uint8_t*, size_t, const std::string& name) {
  TEMPER_INPUT_CHECK(false, name, "format", "a PNG file, but this build has no PNG decoder (install libpng-dev and rebuild)");
  return {};
}
}  // namespace temper::detail

#endif
