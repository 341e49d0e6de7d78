# Tests of the replication monitor, Sentinel client and metrics sources.
foreach(t replicationmonitor sentinelclient metricssource histogramquantile_prometheus)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_${t}.cpp)
        continue()
    endif()
    l0l3_add_qtest(tst_${t}
        SOURCES tst_${t}.cpp
        LIBS l0l3_control l0l3_testsupport
        LABELS integration
        TIMEOUT 240)
endforeach()
# Three servers and three Sentinels, failing over: not side by side with other stacks.
if(TARGET tst_sentinelclient)
    set_property(TEST tst_sentinelclient APPEND PROPERTY RESOURCE_LOCK ${L0L3_HEAVY_TEST_LOCK})
endif()
# The scraper fed by the page GatewayMetrics renders (not a hand-written one).
l0l3_add_qtest(tst_gatewaymetricsscrape
    SOURCES tst_gatewaymetricsscrape.cpp
    LIBS l0l3_control l0l3_gateway
    LABELS control
    TIMEOUT 60)
# The fleet registry's reader against hostile records, and the record the gateway writes.
l0l3_add_qtest(tst_fleetregistry
    SOURCES tst_fleetregistry.cpp controltestsupport.h
    LIBS l0l3_control l0l3_gateway l0l3_testsupport
    LABELS integration
    TIMEOUT 60)
