#include "sim/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
#include <string>

namespace pagesim::log {

namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::warn;
}  // namespace

spdlog::logger& get(std::string_view layer) {
  std::lock_guard g(g_mu);
  std::string name(layer);
  auto l = spdlog::get(name);
  if (!l) {
    l = spdlog::stderr_color_mt(name);
    l->set_pattern("pagesim %n: %^%l%$: %v");
    l->set_level(g_level);
  }
  return *l;
}

void set_level(spdlog::level::level_enum level) {
  std::lock_guard g(g_mu);
  g_level = level;
  spdlog::apply_all([level](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level); });
}

}  // namespace pagesim::log
