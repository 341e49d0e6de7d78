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

# Kubernetes: every manifest parses and holds together, every flag and config key it passes is in
# l0l3-gateway --help, and the gateway's command line passes --check-config. The Grafana
# provisioning files and the Kubernetes scrape config are parsed as YAML too.
add_test(NAME packaging_kubernetes_manifests
    COMMAND python3 ${PROJECT_SOURCE_DIR}/packaging/kubernetes/check-manifests.py
        --gateway $<TARGET_FILE:l0l3-gateway>
        --also ${PROJECT_SOURCE_DIR}/packaging/grafana/provisioning/datasource.yml
               ${PROJECT_SOURCE_DIR}/packaging/grafana/provisioning/dashboards.yml
               ${PROJECT_SOURCE_DIR}/packaging/prometheus/prometheus-kubernetes.yml)
set_tests_properties(packaging_kubernetes_manifests PROPERTIES LABELS packaging TIMEOUT 60)
