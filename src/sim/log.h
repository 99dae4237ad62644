// One named spdlog logger per layer ("sim", "pagetable", "mmu", "workloads", "cli"), all writing
// to stderr so stdout carries only results (DESIGN.md, cli). Hot paths log nothing below `debug`;
// trace-level calls are compiled out unless SPDLOG_ACTIVE_LEVEL says otherwise.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace pagesim::log {

spdlog::logger& get(std::string_view layer);
void set_level(spdlog::level::level_enum level);

}  // namespace pagesim::log
