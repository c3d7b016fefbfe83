// ignis template: error types. Every template failure is an ignis::Error whose message
// starts with "chat template line N:" and says what failed.
#pragma once
#include "core/error.h"

namespace ignis::tmpl {

// A syntax or runtime failure already located at a template line.
class TemplateError : public ignis::Error {
 public:
  TemplateError(int line, const std::string& what)
      : ignis::Error(fmt::format("chat template line {}: {}", line, what)), line_(line) {}
  int line() const { return line_; }

 private:
  int line_;
};

// The template called raise_exception(message): the message is for the end user
// (e.g. "Conversation roles must alternate user/assistant/...").
class RaisedError : public TemplateError {
 public:
  RaisedError(int line, const std::string& message)
      : TemplateError(line, "raise_exception: " + message), message_(message) {}
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

// Thrown by raise_exception() before the evaluator knows the line.
struct RaiseRequest {
  std::string message;
};

}  // namespace ignis::tmpl
