# End-to-end tests across regions (propagation, failover, a hung primary, a
# partitioned replica, a killed gateway). Included from tests/integration/CMakeLists.txt;
# they need redis-server, l0l3-gateway and l0l3-stub-llm in
# ${PROJECT_BINARY_DIR}/bin, and the control plane (l0l3_control).
if(TARGET tst_propagation OR NOT TARGET l0l3_control)
    return()
endif()

add_library(l0l3_e2e_support STATIC
    ${CMAKE_CURRENT_LIST_DIR}/approvalstream.cpp
    ${CMAKE_CURRENT_LIST_DIR}/e2estack.cpp
    ${CMAKE_CURRENT_LIST_DIR}/hitload.cpp
    ${CMAKE_CURRENT_LIST_DIR}/rogueredis.cpp)
target_link_libraries(l0l3_e2e_support PUBLIC l0l3_integration_wire l0l3_control Qt6::Network)

set(_e2e_tests tst_failover tst_faults_primary tst_partition tst_gatewaykill tst_roguesentinel tst_rpodrill
    tst_fleetdiscovery tst_manualpromotion)
if(TARGET l0l3_localstack)
    list(APPEND _e2e_tests tst_propagation tst_propagationtls)
endif()
# The disaster drill runs l0l3-ctl export/import as processes.
if(TARGET l0l3-ctl)
    list(APPEND _e2e_tests tst_disasterdrill)
endif()
foreach(test IN LISTS _e2e_tests)
    if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/${test}.cpp)
        continue()
    endif()
    set(_libs l0l3_e2e_support)
    set(_sources ${CMAKE_CURRENT_LIST_DIR}/${test}.cpp)
    if(test STREQUAL "tst_propagation" OR test STREQUAL "tst_propagationtls")
        list(APPEND _libs l0l3_localstack)
        # The approval path both walk on the local stack, plain and TLS.
        list(APPEND _sources ${CMAKE_CURRENT_LIST_DIR}/demopropagation.cpp)
    endif()
    l0l3_add_qtest(${test}
        SOURCES ${_sources}
        LIBS ${_libs}
        LABELS integration e2e
        TIMEOUT 240)
    # Timing-sensitive (failover, lag): never run two of them side by side.
    set_tests_properties(${test} PROPERTIES RESOURCE_LOCK l0l3_e2e)
    foreach(tool l0l3-gateway l0l3-stub-llm)
        if(TARGET ${tool})
            add_dependencies(${test} ${tool})
        endif()
    endforeach()
endforeach()
# l0l3-console --demo --tls runs as a process.
if(TARGET tst_propagationtls AND TARGET l0l3-console)
    add_dependencies(tst_propagationtls l0l3-console)
endif()
# l0l3-ctl fleet runs as a process.
if(TARGET tst_fleetdiscovery AND TARGET l0l3-ctl)
    add_dependencies(tst_fleetdiscovery l0l3-ctl)
endif()
if(TARGET tst_disasterdrill)
    add_dependencies(tst_disasterdrill l0l3-ctl)
    # l0l3-ctl import at -O0 under ASan + UBSan is two orders of magnitude
    # slower than in the default build: the drill needs more than the others.
    set_tests_properties(tst_disasterdrill PROPERTIES TIMEOUT 420)
endif()
