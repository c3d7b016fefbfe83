// ignis server: Fiber (see fiber.h). With AddressSanitizer every switch is announced
// (__sanitizer_start/finish_switch_fiber) so ASan knows which stack is live.
#include "server/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

#include "core/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define IGNIS_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IGNIS_FIBER_ASAN 1
#endif
#endif
#ifdef IGNIS_FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace ignis::server {

namespace {
thread_local Fiber* t_current = nullptr;

size_t page_size() {
  static const size_t p = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return p;
}
}  // namespace

Fiber::Fiber(std::function<void()> fn, size_t stack_bytes) : fn_(std::move(fn)) {
  const size_t page = page_size();
  size_t stack = (std::max<size_t>(stack_bytes, 16 * 1024) + page - 1) / page * page;
  map_bytes_ = stack + page;
  stack_ = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  IGNIS_CHECK(stack_ != MAP_FAILED, "server: cannot map a {} KiB handler stack: {}", stack / 1024, std::strerror(errno));
  ::mprotect(stack_, page, PROT_NONE);  // guard page at the low end (stacks grow down)
  IGNIS_CHECK(::getcontext(&ctx_) == 0, "server: getcontext failed: {}", std::strerror(errno));
  ctx_.uc_stack.ss_sp = static_cast<char*>(stack_) + page;
  ctx_.uc_stack.ss_size = stack;
  ctx_.uc_link = &caller_;  // entry() returning switches back to the last resume()
  ::makecontext(&ctx_, &Fiber::entry, 0);
}

Fiber::~Fiber() {
  if (stack_ && stack_ != MAP_FAILED) ::munmap(stack_, map_bytes_);
}

Fiber* Fiber::current() { return t_current; }

void Fiber::entry() {
  Fiber* self = t_current;
#ifdef IGNIS_FIBER_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &self->caller_bottom_, &self->caller_size_);
#endif
  try {
    self->fn_();
  } catch (...) {
    // The function owns its errors (the server's task wrapper catches everything); an exception
    // escaping here cannot unwind past the fiber's first frame.
    std::terminate();
  }
  self->fn_ = nullptr;  // captured state dies on the fiber's own stack's thread, before the switch
  self->done_ = true;
#ifdef IGNIS_FIBER_ASAN
  __sanitizer_start_switch_fiber(nullptr, self->caller_bottom_, self->caller_size_);  // this stack ends
#endif
}  // returns into uc_link = caller_

void Fiber::resume() {
  if (done_) return;
  Fiber* prev = t_current;
  IGNIS_CHECK(prev == nullptr, "server: Fiber::resume from inside a fiber");
  t_current = this;
#ifdef IGNIS_FIBER_ASAN
  __sanitizer_start_switch_fiber(&fake_stack_, static_cast<char*>(ctx_.uc_stack.ss_sp), ctx_.uc_stack.ss_size);
#endif
  ::swapcontext(&caller_, &ctx_);
#ifdef IGNIS_FIBER_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_, nullptr, nullptr);
#endif
  t_current = nullptr;
}

void Fiber::yield() {
  Fiber* self = t_current;
  IGNIS_CHECK(self != nullptr, "server: Fiber::yield outside a fiber");
  t_current = nullptr;
#ifdef IGNIS_FIBER_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, self->caller_bottom_, self->caller_size_);
#endif
  ::swapcontext(&self->ctx_, &self->caller_);
#ifdef IGNIS_FIBER_ASAN
  __sanitizer_finish_switch_fiber(fake, &self->caller_bottom_, &self->caller_size_);
#endif
  t_current = self;
}

}  // namespace ignis::server
