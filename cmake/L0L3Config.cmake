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

# l0l3_add_qtest(NAME SOURCE LIBS... [ENV ...]): one executable and one add_test per file.
function(l0l3_add_qtest name)
    cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;ENV;LABELS" ${ARGN})
    qt_add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE l0l3_common_cfg Qt6::Test ${T_LIBS})
    add_test(NAME ${name} COMMAND ${name})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
        ENVIRONMENT "QT_QPA_PLATFORM=offscreen;L0L3_BIN_DIR=${PROJECT_BINARY_DIR}/bin;L0L3_SOURCE_DIR=${PROJECT_SOURCE_DIR};${T_ENV}")
    if(T_LABELS)
        set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
    endif()
endfunction()

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
