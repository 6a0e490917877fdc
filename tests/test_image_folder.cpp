// PNG/JPEG decoding, PIL-exact resizing and ImageFolderDataset against torchvision / PIL
// (tests/fixtures/image_folder, tools/make_image_folder_fixtures.py): every decoded pixel, every resized
// pixel and every dataset image must be equal, byte for byte. Also the refusals: truncated and
// corrupt files, formats we do not read, unknown class folders, bad sizes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "models/io/safetensors.h"
#include "runtime/data/image_dataset_open.h"
#include "runtime/data/image_decoder.h"
#include "runtime/data/image_folder_dataset.h"
#include "runtime/data/image_resample.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using temper::test::fixture;

namespace temper {
namespace {

const std::string kRoot = fixture("image_folder");
constexpr int64_t kSize = 24, kResize = 28;  // the fixture's Resize / CenterCrop

const SafetensorsFile& reference() {
  static const SafetensorsFile f = SafetensorsFile::open(kRoot + "/reference.safetensors");
  return f;
}

std::vector<uint8_t> ref_bytes(const std::string& name) {
  const Tensor t = reference().load(name, DType::U8);
  return std::vector<uint8_t>(t.data<uint8_t>(), t.data<uint8_t>() + t.numel());
}

RgbImage ref_image(const std::string& name) {
  const Shape s = reference().info(name).shape;
  return RgbImage{s[0], s[1], ref_bytes(name)};
}

// Number of bytes that differ (0 expected) and the largest difference, for the failure message.
std::string diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return fmt::format("{} bytes vs {}", a.size(), b.size());
  int64_t n = 0, worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    n += a[i] != b[i];
    worst = std::max<int64_t>(worst, std::abs(int(a[i]) - int(b[i])));
  }
  return n == 0 ? "" : fmt::format("{} of {} bytes differ, by up to {}", n, a.size(), worst);
}

std::vector<std::string> decoded_files() {
  std::vector<std::string> files;
  for (const std::string& n : reference().names())
    if (n.rfind("decoded.", 0) == 0) files.push_back(n.substr(8));
  return files;
}

class ImageFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!image_decoding_available()) GTEST_SKIP() << "built without libpng/libjpeg";
  }
};

TEST_F(ImageFolderTest, DecodesLikePil) {
  const std::vector<std::string> files = decoded_files();
  ASSERT_EQ(files.size(), 14u);
  for (const std::string& f : files) {
    const RgbImage got = decode_image_file(kRoot + "/" + f);
    const RgbImage want = ref_image("decoded." + f);
    EXPECT_EQ(got.h, want.h) << f;
    EXPECT_EQ(got.w, want.w) << f;
    EXPECT_EQ(diff(got.pixels, want.pixels), "") << f;
  }
}

TEST_F(ImageFolderTest, Grey16KeepsTheHighByte) {
  const RgbImage got = decode_image_file(kRoot + "/grey16.png");
  EXPECT_EQ(diff(got.pixels, ref_bytes("grey16.expected")), "");
}

TEST_F(ImageFolderTest, ResizesLikePil) {
  const RgbImage src = ref_image("resize.src");
  int checked = 0;
  for (const std::string& n : reference().names()) {
    if (n.rfind("resize.", 0) != 0 || n == "resize.src") continue;
    const Shape s = reference().info(n).shape;
    const RgbImage got = resize_bilinear_pil(src, s[0], s[1]);
    EXPECT_EQ(diff(got.pixels, ref_bytes(n)), "") << n;
    ++checked;
  }
  EXPECT_EQ(checked, 13);
}

// A window of the resize is that part of the whole resize, for both pass orders.
TEST_F(ImageFolderTest, WindowIsPartOfTheWholeResize) {
  const RgbImage src = ref_image("resize.src");  // 41 x 57
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{100, 77}, {5, 50}, {30, 80}, {41, 20}}) {
    const RgbImage whole = resize_bilinear_pil(src, oh, ow);
    const PixelWindow win{oh / 3, ow / 4, oh - oh / 3 - 1 > 0 ? oh - oh / 3 - 1 : 1, ow / 2};
    const RgbImage part = resize_window_pil(src, oh, ow, win);
    std::vector<uint8_t> want;
    for (int64_t y = win.top; y < win.top + win.h; ++y)
      want.insert(want.end(), whole.pixels.begin() + (y * ow + win.left) * 3,
                  whole.pixels.begin() + (y * ow + win.left + win.w) * 3);
    EXPECT_EQ(diff(part.pixels, want), "") << oh << "x" << ow;
  }
}

// A 1 x 200000 image resized to a shorter side of 224 would be 224 x 44.8M (30 GB): only the
// 224 x 224 crop is computed.
TEST_F(ImageFolderTest, ExtremeAspectRatioCostsOnlyTheCrop) {
  RgbImage thin{1, 200000, std::vector<uint8_t>(600000)};
  for (size_t i = 0; i < thin.pixels.size(); ++i) thin.pixels[i] = static_cast<uint8_t>(i * 7);
  const RgbImage out = resize_shorter_center_crop(thin, 224, 224);
  EXPECT_EQ(out.h, 224);
  EXPECT_EQ(out.w, 224);
  EXPECT_EQ(std::memcmp(out.pixels.data(), out.pixels.data() + 224 * 3 * 100, 224 * 3), 0);  // rows alike
}

// The whole ImageFolder pipeline (file order, labels, decode, Resize, CenterCrop) for both splits.
TEST_F(ImageFolderTest, DatasetMatchesTorchvisionImageFolder) {
  ImageFolderOptions o;
  o.size = kSize;
  o.resize = kResize;
  ImageFolderDataset train(kRoot + "/train", o);
  EXPECT_EQ(train.class_names(), (std::vector<std::string>{"ant", "bee", "cat"}));
  o.classes = train.class_names();
  ImageFolderDataset valid(kRoot + "/valid", o);
  for (auto [split, data] : {std::pair<std::string, ImageFolderDataset*>{"train", &train}, {"valid", &valid}}) {
    const Tensor want_labels = reference().load(split + ".labels", DType::I32);
    ASSERT_EQ(data->size(), want_labels.numel()) << split;
    EXPECT_EQ(data->num_classes(), 3);
    std::vector<int64_t> rows(static_cast<size_t>(data->size()));
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
    const ImageBatch b = data->read(rows);
    EXPECT_EQ(b.images.shape(), (Shape{data->size(), kSize, kSize, 3}));
    const std::vector<uint8_t> got(b.images.data<uint8_t>(), b.images.data<uint8_t>() + b.images.numel());
    EXPECT_EQ(diff(got, ref_bytes(split + ".images")), "") << split;
    std::vector<int32_t> want(want_labels.data<int32_t>(), want_labels.data<int32_t>() + want_labels.numel());
    EXPECT_EQ(data->labels(), want) << split;
    EXPECT_EQ(std::vector<int32_t>(b.labels.data<int32_t>(), b.labels.data<int32_t>() + b.labels.numel()), want);
  }
}

TEST_F(ImageFolderTest, ReadsAnyOrderWithRepeats) {
  ImageFolderOptions o;
  o.size = kSize;
  o.resize = kResize;
  ImageFolderDataset train(kRoot + "/train", o);
  const std::vector<uint8_t> all = ref_bytes("train.images");
  const std::vector<int64_t> rows = {7, 0, 7, 3};
  const ImageBatch b = train.read(rows);
  const int64_t bytes = kSize * kSize * 3;
  for (size_t i = 0; i < rows.size(); ++i)
    EXPECT_EQ(std::memcmp(b.images.data<uint8_t>() + i * bytes, all.data() + rows[i] * bytes, bytes), 0) << i;
  EXPECT_THROW(train.read({train.size()}), Error);
}

// ---------------------------------------------------------------- refusals

class BadImageFolder : public ImageFolderTest {
 protected:
  void SetUp() override {
    ImageFolderTest::SetUp();
    dir_ = fs::temp_directory_path() / ("temper_bad_folder_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "a");
    fs::copy_file(kRoot + "/train/cat/big420.jpg", dir_ / "a" / "ok.jpg");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }
  std::string file_bytes(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The InputError message of decoding `p`, or "" when it decodes.
  std::string decode_error(const fs::path& p) {
    try {
      decode_image_file(p.string());
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), p.string());
      return e.what();
    }
    return "";
  }
  ImageFolderOptions opts() const {
    ImageFolderOptions o;
    o.size = 8;
    return o;
  }
  fs::path dir_;
};

TEST_F(BadImageFolder, TruncatedAndCorruptFilesAreInputErrors) {
  const std::string png = file_bytes(kRoot + "/train/ant/rgb_landscape.png");
  const std::string jpg = file_bytes(kRoot + "/train/cat/big420.jpg");
  write(dir_ / "cut.png", png.substr(0, png.size() / 2));
  write(dir_ / "cut.jpg", jpg.substr(0, jpg.size() / 2));
  write(dir_ / "header.png", png.substr(0, 20));
  write(dir_ / "header.jpg", jpg.substr(0, 10));
  std::string flipped = png;
  flipped[40] = static_cast<char>(flipped[40] ^ 0x55);  // inside IDAT: the CRC or zlib check fails
  write(dir_ / "crc.png", flipped);
  write(dir_ / "text.png", "hello, not an image");
  write(dir_ / "empty.jpg", "");
  for (const char* name : {"cut.png", "cut.jpg", "header.png", "header.jpg", "crc.png", "text.png", "empty.jpg"})
    EXPECT_NE(decode_error(dir_ / name), "") << name;
  EXPECT_NE(decode_error(dir_ / "cut.jpg").find("truncated"), std::string::npos);
  EXPECT_NE(decode_error(dir_ / "text.png").find("neither PNG nor JPEG"), std::string::npos);
  EXPECT_NE(decode_error(dir_ / "missing.png").find("cannot open"), std::string::npos);
}

uint32_t crc32(const std::string& bytes) {  // PNG's chunk CRC (ISO 3309), bit by bit
  uint32_t c = 0xffffffffu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

void put_be(std::string& s, size_t at, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[at + i] = static_cast<char>(v >> (8 * (bytes - 1 - i)));
}

// Valid headers claiming 20000 x 20000 pixels (4e8 > kMaxImagePixels): refused by our size check.
TEST_F(BadImageFolder, HugeDimensionsAreRefusedBeforeAllocating) {
  std::string png = file_bytes(kRoot + "/train/ant/rgb_landscape.png");
  put_be(png, 16, 20000, 4);  // IHDR width, height
  put_be(png, 20, 20000, 4);
  put_be(png, 29, crc32(png.substr(12, 17)), 4);  // the CRC over "IHDR" + its 13 data bytes
  write(dir_ / "huge.png", png);
  EXPECT_NE(decode_error(dir_ / "huge.png").find("refused"), std::string::npos) << decode_error(dir_ / "huge.png");
  std::string jpg = file_bytes(kRoot + "/train/cat/big420.jpg");
  const size_t sof = jpg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  put_be(jpg, sof + 5, 20000, 2);  // SOF0 height, width
  put_be(jpg, sof + 7, 20000, 2);
  write(dir_ / "huge.jpg", jpg);
  EXPECT_NE(decode_error(dir_ / "huge.jpg").find("refused"), std::string::npos) << decode_error(dir_ / "huge.jpg");
}

// A progressive JPEG whose last scan repeats: a few repeats decode (libjpeg only warns), hundreds are
// refused instead of costing a pass over the coefficients each.
TEST_F(BadImageFolder, ProgressiveJpegWithTooManyScansIsRefused) {
  const std::string jpg = file_bytes(kRoot + "/train/cat/progressive.jpg");
  const size_t last_scan = jpg.rfind("\xff\xda"), eoi = jpg.size() - 2;
  ASSERT_EQ(jpg.substr(eoi), "\xff\xd9");
  auto repeat_last_scan = [&](int times) {
    std::string out = jpg.substr(0, eoi);
    for (int i = 0; i < times; ++i) out += jpg.substr(last_scan, eoi - last_scan);
    return out + jpg.substr(eoi);
  };
  write(dir_ / "few.jpg", repeat_last_scan(3));
  write(dir_ / "many.jpg", repeat_last_scan(600));
  EXPECT_EQ(decode_error(dir_ / "few.jpg"), "");
  EXPECT_NE(decode_error(dir_ / "many.jpg").find("scans"), std::string::npos) << decode_error(dir_ / "many.jpg");
}

TEST_F(BadImageFolder, FolderProblemsNameThePath) {
  write(dir_ / "a" / "photo.webp", "RIFF");
  try {
    ImageFolderDataset d(dir_.string(), opts());
    FAIL() << "a .webp file must be refused";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), (dir_ / "a" / "photo.webp").string());
  }
  fs::remove(dir_ / "a" / "photo.webp");
  write(dir_ / "a" / "anim.gif", "GIF89a");  // torchvision skips .gif too
  write(dir_ / "a" / "notes.txt", "text");
  EXPECT_EQ(ImageFolderDataset(dir_.string(), opts()).size(), 1);
  fs::create_directory_symlink("loop", dir_ / "a" / "loop");  // a link to itself: ELOOP
  try {
    ImageFolderDataset d(dir_.string(), opts());
    FAIL() << "a link loop must be an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(e.file().find("loop"), std::string::npos) << e.what();
  }
  fs::remove(dir_ / "a" / "loop");
  fs::create_directory_symlink("..", dir_ / "a" / "up");  // a cycle through the parent: entered once
  EXPECT_EQ(ImageFolderDataset(dir_.string(), opts()).size(), 1);
  fs::remove(dir_ / "a" / "up");
  fs::create_directories(dir_ / "empty_class");
  EXPECT_THROW(ImageFolderDataset(dir_.string(), opts()), InputError);
  fs::remove(dir_ / "empty_class");
  ImageFolderOptions known = opts();
  known.classes = {"b"};
  EXPECT_THROW(ImageFolderDataset(dir_.string(), known), InputError);  // 'a' is not a known class
  ImageFolderOptions bad = opts();
  bad.resize = 4;  // shorter than the crop
  EXPECT_THROW(ImageFolderDataset(dir_.string(), bad), InputError);
  EXPECT_THROW(ImageFolderDataset((dir_ / "a" / "ok.jpg").string(), opts()), InputError);
  EXPECT_THROW(ImageFolderDataset((dir_ / "a").string(), opts()), InputError);  // no class folders inside
}

TEST_F(BadImageFolder, ACorruptImageFailsTheBatchNamingTheFile) {
  write(dir_ / "a" / "zz_broken.png", "\x89PNG\r\n\x1a\n broken");
  ImageFolderDataset d(dir_.string(), opts());
  ASSERT_EQ(d.size(), 2);
  EXPECT_EQ(d.read({0}).images.shape(), (Shape{1, 8, 8, 3}));
  try {
    d.read({0, 1});
    FAIL() << "the broken file must fail the batch";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), (dir_ / "a" / "zz_broken.png").string());
  }
}

TEST_F(BadImageFolder, OpenImageDatasetTakesFoldersWithoutLabelFiles) {
  ImageSourceConfig c;
  c.folder = opts();
  EXPECT_EQ(open_image_dataset(dir_.string(), "", c, "--train-labels")->size(), 1);
  EXPECT_THROW(open_image_dataset(dir_.string(), "labels.idx", c, "--train-labels"), InputError);
}

}  // namespace
}  // namespace temper
