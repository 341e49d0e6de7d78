# Monitoring and Kubernetes files of packaging/ (prometheus, grafana, kubernetes)
# checked against the built gateway; included from CMakeLists.txt here.

# Prometheus: promtool check config / check rules, and the rule unit tests
# (packaging/prometheus/tests). Skipped (77) without promtool.
add_test(NAME packaging_prometheus_rules COMMAND bash ${PROJECT_SOURCE_DIR}/packaging/prometheus/check-rules.sh)
set_tests_properties(packaging_prometheus_rules PROPERTIES LABELS packaging TIMEOUT 120 SKIP_RETURN_CODE 77)

# The rules' and the Grafana dashboard's metric names against a real gateway's /metrics.
l0l3_add_qtest(tst_monitoringnames
    SOURCES tst_monitoringnames.cpp
    LIBS l0l3_integration_wire
    LABELS "integration;packaging"
    TIMEOUT 180
    HEAVY)
foreach(tool l0l3-gateway l0l3-stub-llm)
    if(TARGET ${tool})
        add_dependencies(tst_monitoringnames ${tool})
    endif()
endforeach()
