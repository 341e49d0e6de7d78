# Tests of the local demo stack (core/localstack) and l0l3-load. Included from
# tests/integration/CMakeLists.txt; they need redis-server, l0l3-gateway,
# l0l3-stub-llm, l0l3-load and l0l3-demo in ${PROJECT_BINARY_DIR}/bin.
if(TARGET tst_demostack OR NOT TARGET l0l3_localstack)
    return()
endif()

l0l3_add_qtest(tst_demostack
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_demostack.cpp
    LIBS l0l3_localstack l0l3_testsupport
    LABELS integration
    TIMEOUT 180
    HEAVY)
l0l3_add_qtest(tst_load
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_load.cpp
    LIBS l0l3_testsupport
    LABELS integration
    TIMEOUT 120
    HEAVY)
# The demo with traffic and the autopilot: a pending proposal with a shadow L1
# candidate and a cluster of phrasings within its first minute.
l0l3_add_qtest(tst_demoshadow
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_demoshadow.cpp
    LIBS l0l3_localstack l0l3_testsupport
    LABELS integration
    TIMEOUT 180
    HEAVY)
foreach(tool l0l3-gateway l0l3-stub-llm)
    if(TARGET ${tool})
        add_dependencies(tst_demoshadow ${tool})
    endif()
endforeach()
foreach(tool l0l3-gateway l0l3-stub-llm l0l3-demo l0l3-load)
    if(TARGET ${tool})
        add_dependencies(tst_demostack ${tool})
        add_dependencies(tst_load ${tool})
    endif()
endforeach()
