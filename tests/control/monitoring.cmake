# Tests of the replication monitor, Sentinel client and metrics sources (issue 4).
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
