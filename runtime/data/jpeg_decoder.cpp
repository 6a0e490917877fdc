// JPEG -> 8-bit RGB with libjpeg(-turbo), set up as PIL does (accurate integer IDCT, fancy
// upsampling, no scaling). libjpeg reports errors through error_exit, which here longjmps back to the
// function that called into it; those functions hold only plain data, and the C++ caller checks sizes
// and turns a failure into an InputError. A file that ends early is an error (libjpeg would only warn
// and fill the rest with grey); other warnings (stray bytes between markers) are let pass, as PIL does.
// A progressive file may carry any number of scans, each one a pass over the whole coefficient buffer:
// more than kMaxJpegScans (libjpeg-turbo's advice for untrusted input) is refused, not decoded for minutes.
#include <csetjmp>
#include <cstdio>

#include "runtime/data/image_decoder.h"
#include "runtime/error.h"

#ifdef TEMPER_WITH_JPEG
#include <jerror.h>
#include <jpeglib.h>

namespace temper::detail {
namespace {

constexpr int kMaxJpegScans = 500;  // real progressive encoders write about 10

// Everything libjpeg touches; `mgr` first so a jpeg_error_mgr* is a JpegState*.
struct JpegState {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  jpeg_decompress_struct cinfo;
  jpeg_progress_mgr progress;
  bool created = false;
  bool truncated = false;
  char message[JMSG_LENGTH_MAX] = "";
};

struct JpegRelease {
  JpegState* st;
  ~JpegRelease() {
    if (st->created) jpeg_destroy_decompress(&st->cinfo);
  }
};

void on_jpeg_error(j_common_ptr cinfo) {
  auto* st = reinterpret_cast<JpegState*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, st->message);
  longjmp(st->jump, 1);
}

// Called by libjpeg as it takes in input: stops a file with too many scans.
void on_jpeg_progress(j_common_ptr cinfo) {
  const int scans = reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number;
  if (scans <= kMaxJpegScans) return;
  auto* st = reinterpret_cast<JpegState*>(cinfo->err);
  std::snprintf(st->message, sizeof st->message, "more than %d scans: refused (a valid image has about 10)",
                kMaxJpegScans);
  longjmp(st->jump, 1);
}

void on_jpeg_message(j_common_ptr cinfo, int level) {
  auto* st = reinterpret_cast<JpegState*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) st->truncated = true;
}

// Reads the header and fixes the output: RGB at full size. false: st.message says why.
bool jpeg_read_header_rgb(JpegState& st, const uint8_t* data, size_t size) {
  if (setjmp(st.jump)) return false;
  jpeg_create_decompress(&st.cinfo);
  st.created = true;
  st.progress = jpeg_progress_mgr{};
  st.progress.progress_monitor = on_jpeg_progress;
  st.cinfo.progress = &st.progress;
  jpeg_mem_src(&st.cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(&st.cinfo, TRUE);
  st.cinfo.out_color_space = JCS_RGB;
  st.cinfo.dct_method = JDCT_ISLOW;
  st.cinfo.do_fancy_upsampling = TRUE;
  jpeg_calc_output_dimensions(&st.cinfo);
  return true;
}

// Decodes every scanline into out [output_height, output_width, 3].
bool jpeg_read_pixels(JpegState& st, uint8_t* out) {
  if (setjmp(st.jump)) return false;
  jpeg_start_decompress(&st.cinfo);
  while (st.cinfo.output_scanline < st.cinfo.output_height) {
    JSAMPROW row = out + static_cast<size_t>(st.cinfo.output_scanline) * st.cinfo.output_width * 3;
    jpeg_read_scanlines(&st.cinfo, &row, 1);
  }
  jpeg_finish_decompress(&st.cinfo);
  return true;
}

}  // namespace

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  JpegState st;
  st.cinfo.err = jpeg_std_error(&st.mgr);
  st.mgr.error_exit = on_jpeg_error;
  st.mgr.emit_message = on_jpeg_message;
  JpegRelease release{&st};
  TEMPER_INPUT_CHECK(jpeg_read_header_rgb(st, data, size), name, "JPEG header", "{}", st.message);
  const J_COLOR_SPACE space = st.cinfo.jpeg_color_space;
  TEMPER_INPUT_CHECK(space != JCS_CMYK && space != JCS_YCCK, name, "JPEG color space",
                     "CMYK JPEG is not supported (convert it to RGB)");
  const int64_t w = st.cinfo.output_width, h = st.cinfo.output_height, pixels = w * h;
  TEMPER_INPUT_CHECK(pixels >= 1 && pixels <= kMaxImagePixels, name, "JPEG size", "{}x{} pixels: more than {} refused",
                     w, h, kMaxImagePixels);
  TEMPER_INPUT_CHECK(st.cinfo.out_color_components == 3, name, "JPEG color space", "cannot be read as RGB");
  RgbImage img{h, w, std::vector<uint8_t>(static_cast<size_t>(pixels) * 3)};
  TEMPER_INPUT_CHECK(jpeg_read_pixels(st, img.pixels.data()), name, "JPEG data", "{}", st.message);
  TEMPER_INPUT_CHECK(!st.truncated, name, "JPEG data", "the file ends early (truncated)");
  return img;
}

}  // namespace temper::detail

#else  // no libjpeg in this build

namespace temper::detail {
RgbImage decode_jpeg(const uint8_t*, size_t, const std::string& name) {
  TEMPER_INPUT_CHECK(false, name, "format", "a JPEG file, but this build has no JPEG decoder (install libjpeg-dev and rebuild)");
  return {};
}
}  // namespace temper::detail

#endif
