# Fault tests of the gateway (upstream down, replica killed, rate
# limits, API keys, abuse limits). Included from tests/integration/CMakeLists.txt;
# needs redis-server, l0l3-gateway and l0l3-stub-llm in ${PROJECT_BINARY_DIR}/bin.
if(TARGET tst_gatewayfaults)
    return()
endif()

l0l3_add_qtest(tst_gatewayfaults
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_gatewayfaults.cpp
    LIBS l0l3_integration_wire Qt6::Network
    LABELS integration
    TIMEOUT 300
    HEAVY)
foreach(tool l0l3-gateway l0l3-stub-llm)
    if(TARGET ${tool})
        add_dependencies(tst_gatewayfaults ${tool})
    endif()
endforeach()
