# Installation (included at the end of the top-level CMakeLists.txt):
#
#   cmake -S . -B build -DCMAKE_INSTALL_PREFIX=/usr && cmake --build build -j2
#   DESTDIR=/tmp/stage cmake --install build      # or: cmake --install build --prefix DIR
#
# installs, under the prefix (GNUInstallDirs):
#   bin/memtrace                                   the executable (it needs nothing from the
#                                                  build tree: the --fast stub and the default
#                                                  suppressions are compiled into it)
#   share/man/man1/memtrace.1                      docs/memtrace.1, the man page
#   share/bash-completion/completions/memtrace     docs/completion/memtrace, loaded by
#                                                  bash-completion on first use
#   share/doc/memtrace/                            README.md and docs/*.md
#
# The test install_into_prefix (tests/install/run.sh) installs the build both ways and
# runs what was installed.
include(GNUInstallDirs)

install(TARGETS memtrace RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/docs/memtrace.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/docs/completion/memtrace
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
# CONFIGURE_DEPENDS: a new document is installed after the next build, no re-run needed.
file(GLOB MEMTRACE_DOC_PAGES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${MEMTRACE_DOC_PAGES}
  DESTINATION ${CMAKE_INSTALL_DOCDIR})

add_test(NAME install_into_prefix
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/install/run.sh
    ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
# 77: the kernel does not permit ptrace here (the installed binary cannot trace fx_seed).
set_tests_properties(install_into_prefix PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120
  ENVIRONMENT "CMAKE=${CMAKE_COMMAND}")   # the cmake that configured the build
