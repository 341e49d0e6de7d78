# Fault tests of the gateway (upstream down, replica killed, rate
# limits, API keys, abuse limits). Included from tests/integration/CMakeLists.txt;
# needs redis-server, l0l3-gateway and l0l3-stub-llm in ${PROJECT_BINARY_DIR}/bin.
if(TARGET tst_gatewayfaults)
    return()
endif()

l0l3_add_gateway_test(tst_gatewayfaults 300 Qt6::Network)
