// safetensors header parsing on well-formed files.
#include <gtest/gtest.h>

#include "helpers.h"

namespace ignis {
namespace {

std::vector<uint8_t> raw(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> b(8 + header.size() + data_bytes, 0);
  uint64_t n = header.size();
  for (int i = 0; i < 8; i++) b[size_t(i)] = uint8_t(n >> (8 * i));
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}

TEST(Safetensors, ParsesEntriesAndMetadata) {
  auto b = raw(R"({"__metadata__": {"format": "pt"}, "b": {"dtype": "F16", "shape": [2, 3], "data_offsets": [8, 20]},
                   "a": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]},
                   "empty": {"dtype": "F32", "shape": [0, 5], "data_offsets": [20, 20]}})", 20);
  SafetensorsHeader h = parse_safetensors_header(b.data(), b.size(), "x.safetensors");
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[0].dtype, DType::BF16);
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[1].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(h.tensors[1].begin, 8u);
  EXPECT_EQ(h.tensors[2].name, "empty");
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.data_start, 8 + b.size() - 8 - 20);
}

TEST(Safetensors, ScalarAndEmptyFile) {
  auto b = raw(R"({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}})", 4);
  SafetensorsHeader h = parse_safetensors_header(b.data(), b.size(), "x");
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_TRUE(h.tensors[0].shape.empty());
  auto e = raw("{}", 0);
  EXPECT_TRUE(parse_safetensors_header(e.data(), e.size(), "x").tensors.empty());
}

TEST(Safetensors, WriterOutputIsAlignedAndMapped) {
  test::TempDir d;
  std::vector<float> vals;
  auto bytes = test::tensor_bytes(DType::F32, 6, 3, &vals);
  write_safetensors(d.file("t.safetensors"), {{"w", DType::F32, {2, 3}, bytes}, {"v", DType::I64, {1}, std::vector<uint8_t>(8, 1)}});
  SafetensorsFile f(d.file("t.safetensors"));
  EXPECT_EQ(f.header().data_start % 8, 0u);
  ASSERT_EQ(f.header().tensors.size(), 2u);
  const auto& w = f.header().tensors[0];
  EXPECT_EQ(w.name, "w");
  EXPECT_EQ(std::memcmp(f.tensor_data(w), bytes.data(), bytes.size()), 0);
}

TEST(Safetensors, IndexParsing) {
  auto m = parse_safetensors_index(R"({"metadata": {"total_size": 10}, "weight_map": {"a": "m-1.safetensors",
                                      "b": "m-2.safetensors"}})", "idx.json");
  EXPECT_EQ(m.at("b"), "m-2.safetensors");
  test::expect_error([] { parse_safetensors_index(R"({"metadata": {}})", "idx.json"); }, {"idx.json", "'weight_map'"});
  test::expect_error([] { parse_safetensors_index(R"({"weight_map": {"a": 3}})", "idx.json"); }, {"idx.json", "'a'"});
  test::expect_error([] { parse_safetensors_index(R"({"weight_map": {"a": "../../etc/passwd"}})", "idx.json"); },
                     {"idx.json", "'a'", "plain relative name"});
  test::expect_error([] { parse_safetensors_index(R"({"weight_map": {"a": "/abs.safetensors"}})", "idx.json"); },
                     {"idx.json", "plain relative name"});
}

}  // namespace
}  // namespace ignis
