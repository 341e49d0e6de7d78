# Replication, Sentinel and metrics sources of the control plane.
target_sources(l0l3_control PRIVATE
    fleetregistry.cpp fleetregistry.h
    fleetview.cpp fleetview.h
    metricssnapshot.h
    metricssource.cpp metricssource.h
    primarytracker.cpp primarytracker.h
    prometheusmetricssource.cpp prometheusmetricssource.h
    redissubscriber.cpp redissubscriber.h
    replicationmonitor.cpp replicationmonitor.h
    replicationstatus.h
    scrapemetricssource.cpp scrapemetricssource.h
    sentinelclient.cpp sentinelclient.h
    sentineltopology.h
)
