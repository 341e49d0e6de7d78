# Shared compile settings for every L0L3 target (qBittorrent's qbt_common_cfg).
add_library(l0l3_common_cfg INTERFACE)
target_compile_features(l0l3_common_cfg INTERFACE cxx_std_20)
target_include_directories(l0l3_common_cfg INTERFACE ${PROJECT_SOURCE_DIR})
target_compile_options(l0l3_common_cfg INTERFACE
    -Wall -Wextra -Wpedantic -Wno-unused-parameter)
target_compile_definitions(l0l3_common_cfg INTERFACE
    QT_NO_CAST_FROM_ASCII
    QT_USE_QSTRINGBUILDER
    QT_NO_URL_CAST_FROM_STRING
    QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
    BOOST_ASIO_NO_DEPRECATED
    BOOST_BEAST_USE_STD_STRING_VIEW
    L0L3_VERSION="${PROJECT_VERSION}")

# A Qt Test run that skipped in initTestCase (nothing passed, nothing failed,
# something skipped) is reported as Skipped by ctest, not Passed. ctest lets a
# skip match override the exit code, hence "0 failed" and the anchor to the end
# of the output: anything printed after Qt Test's last line (a leak report, a
# child failure found when the test object is destroyed) keeps the failure.
set(L0L3_QTEST_SKIP_REGEX
    "Totals: 0 passed, 0 failed, [1-9][0-9]* skipped, [0-9]+ blacklisted, [0-9]+ms\n\\*+ Finished testing of [^\n]*\\*+\n*$")
# Tests that start several processes (a Redis pair or more, gateways, the demo
# stack) take this lock so that no two of them run side by side on a small CI
# machine; shared with the e2e tests and the propagation benchmark.
set(L0L3_HEAVY_TEST_LOCK l0l3_e2e)

# l0l3_qtest_properties(TEST): the ctest properties every Qt Test executable
# needs, for a test added with a plain add_test (e.g. through a wrapper script).
function(l0l3_qtest_properties test)
    set_property(TEST ${test} PROPERTY SKIP_REGULAR_EXPRESSION "${L0L3_QTEST_SKIP_REGEX}")
endfunction()

# l0l3_add_qtest(NAME SOURCES ... LIBS ... [ENV ...] [LABELS ...] [TIMEOUT s] [HEAVY]):
# one executable and one add_test per file. HEAVY: the test starts several
# processes and takes L0L3_HEAVY_TEST_LOCK.
function(l0l3_add_qtest name)
    cmake_parse_arguments(T "HEAVY" "TIMEOUT" "SOURCES;LIBS;ENV;LABELS" ${ARGN})
    qt_add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE l0l3_common_cfg Qt6::Test ${T_LIBS})
    add_test(NAME ${name} COMMAND ${name})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
        ENVIRONMENT "QT_QPA_PLATFORM=offscreen;L0L3_BIN_DIR=${PROJECT_BINARY_DIR}/bin;L0L3_SOURCE_DIR=${PROJECT_SOURCE_DIR};${T_ENV}")
    l0l3_qtest_properties(${name})
    if(T_LABELS)
        set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
    endif()
    if(T_HEAVY)
        set_property(TEST ${name} APPEND PROPERTY RESOURCE_LOCK ${L0L3_HEAVY_TEST_LOCK})
    endif()
endfunction()

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
