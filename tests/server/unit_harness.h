// The server's unit tests: a byte tokenizer (byte i is token i, no special tokens, no chat template) and
// one request through Server::handle over a socketpair.
#pragma once

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

#include "server/server.h"
#include "tokenizer/tokenizer.h"

namespace ignis::test {

class ByteTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view s, bool) const override {
    std::vector<int32_t> ids;
    for (char c : s) ids.push_back(int32_t(uint8_t(c)));
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids, bool) const override {
    std::string s;
    for (int32_t i : ids) s += char(i);
    return s;
  }
  int32_t vocab_size() const override { return 256; }
  std::string id_to_piece(int32_t id) const override { return std::string(1, char(id)); }
  std::optional<int32_t> piece_to_id(std::string_view) const override { return std::nullopt; }
  bool is_special(int32_t) const override { return false; }
  std::optional<int32_t> bos_id() const override { return std::nullopt; }
  std::optional<int32_t> eos_id() const override { return std::nullopt; }
  std::string bos_token() const override { return ""; }
  std::string eos_token() const override { return ""; }
  std::string chat_template(std::string_view) const override { return ""; }
};

struct Reply {
  int status = 0;
  std::string bytes;  // everything written to the client
};

// Sends `method path` with `body` (JSON) through server.handle; the status and the bytes the client received.
inline Reply request(server::Server& server, const std::string& method, const std::string& path, const std::string& body) {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  server::HttpRequest req;
  req.method = method;
  req.path = req.target = path;
  req.version = "HTTP/1.1";
  req.headers = {{"content-type", "application/json"}};
  req.body = body;
  Reply r;
  {
    server::HttpResponder res(fds[0], false, 1000);
    server.handle(req, res);
    r.status = res.status();
  }
  close(fds[0]);
  char buf[4096];
  for (ssize_t n; (n = read(fds[1], buf, sizeof buf)) > 0;) r.bytes.append(buf, size_t(n));
  close(fds[1]);
  return r;
}

inline Reply post(server::Server& server, const std::string& path, const std::string& body) {
  return request(server, "POST", path, body);
}

}  // namespace ignis::test
