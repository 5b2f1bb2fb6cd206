#include "seed_rows.h"

namespace seedrows {

// clang-format off
extern const Row kRows[] = {
    // External VIPs (seed: External Interface Virtual IPs) and their backends.
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.110:443", "ext-vip-access-sip-tls"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.10:443", "ext-vip-access-sip-tls"},
    {"edge2", "external", "tcp 203.0.113.7:40000 > 131.107.155.11:443", "ext-vip-access-sip-tls"},
    {"edge2", "external", "tcp 203.0.113.7:40000 > 131.107.155.10:443", "default_external_ingress"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.110:5061", "ext-vip-access-sip-mtls"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.120:443", "ext-vip-webconf-psom-tls"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.20:443", "ext-vip-webconf-psom-tls"},
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.130:3478", "ext-vip-av-stun-udp"},
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.30:3478", "ext-vip-av-stun-udp"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.130:443", "ext-vip-av-stun-tcp"},
    // Wrong protocol, wrong port, VIP of another service.
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.130:3478", "default_external_ingress"},
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.110:443", "default_external_ingress"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.120:5061", "default_external_ingress"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.10:22", "default_external_ingress"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.10:3389", "default_external_ingress"},
    // External Interface Node 1: outbound rows are egress on the external NIC.
    {"edge1", "external", "egress tcp 131.107.155.10:40000 > 192.0.2.1:80", "edge1-ext-crl-http"},
    {"edge1", "external", "egress udp 131.107.155.10:40000 > 192.0.2.53:53", "edge1-ext-dns"},
    {"edge1", "external", "egress tcp 131.107.155.10:40000 > 192.0.2.9:5061", "edge1-ext-sip-mtls"},
    {"edge1", "external", "egress tcp 131.107.155.30:50000 > 192.0.2.9:9999", "edge1-ext-av-rtp-tcp-out"},
    {"edge1", "external", "egress udp 131.107.155.30:59999 > 192.0.2.9:9999", "edge1-ext-av-rtp-udp-out"},
    {"edge1", "external", "egress udp 131.107.155.30:49999 > 192.0.2.9:9999", "default_external_egress"},
    {"edge1", "external", "egress udp 131.107.155.30:60000 > 192.0.2.9:9999", "default_external_egress"},
    {"edge1", "external", "egress udp 131.107.155.30:40000 > 192.0.2.9:3478", "edge1-ext-av-stun-udp-out"},
    {"edge1", "external", "egress tcp 131.107.155.20:40000 > 192.0.2.1:80", "default_external_egress"},
    {"edge1", "external", "egress udp 131.107.155.11:40000 > 192.0.2.53:53", "default_external_egress"},
    // RTP range edges inbound (Node 1, A/V).
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.30:49999", "default_external_ingress"},
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.30:50000", "edge1-ext-av-rtp-udp-in"},
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.30:59999", "edge1-ext-av-rtp-udp-in"},
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.30:60000", "default_external_ingress"},
    {"edge1", "external", "tcp 203.0.113.7:40000 > 131.107.155.30:55555", "edge1-ext-av-rtp-tcp-in"},
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.10:55555", "default_external_ingress"},
    {"edge1", "external", "udp 203.0.113.7:40000 > 131.107.155.31:55555", "default_external_ingress"},
    {"edge2", "external", "udp 203.0.113.7:40000 > 131.107.155.31:55555", "edge2-ext-av-rtp-udp-in"},
    // Internal VIP and Node 1 internal rows.
    {"edge1", "internal", "tcp 192.168.10.90:40000 > 172.25.33.110:5061", "int-vip-access-sip-mtls"},
    {"edge1", "internal", "tcp 192.168.10.91:40000 > 172.25.33.10:5061", "int-vip-access-sip-mtls"},
    {"edge1", "internal", "tcp 192.168.10.92:40000 > 172.25.33.110:5061", "default_internal_ingress"},
    {"edge1", "internal", "tcp 192.168.10.50:40000 > 172.25.33.110:5062", "int-vip-av-auth-sip-mtls"},
    {"edge1", "internal", "udp 192.168.10.50:40000 > 172.25.33.110:3478", "int-vip-av-stun-udp"},
    {"edge1", "internal", "tcp 192.168.10.50:40000 > 172.25.33.110:443", "int-vip-av-stun-tcp"},
    {"edge1", "internal", "egress tcp 172.25.33.10:40000 > 192.168.10.90:5061", "edge1-int-sip-mtls"},
    {"edge1", "internal", "egress tcp 172.25.33.10:40000 > 192.168.10.92:5061", "default_internal_egress"},
    {"edge1", "internal", "tcp 192.168.10.90:40000 > 172.25.33.10:4443", "edge1-int-cms-https"},
    {"edge1", "internal", "tcp 192.168.10.99:40000 > 172.25.33.10:4443", "default_internal_ingress"},
    {"edge1", "internal", "tcp 192.168.10.90:40000 > 172.25.33.110:4443", "default_internal_ingress"},
    {"edge1", "internal", "tcp 10.1.2.3:40000 > 172.25.33.10:8057", "edge1-int-webconf-psom-mtls"},
    {"edge1", "internal", "tcp 10.1.2.3:40000 > 172.25.33.110:8057", "default_internal_ingress"},
    {"edge1", "internal", "udp 10.1.2.3:40000 > 172.25.33.10:8057", "default_internal_ingress"},
    // An external address arriving on the internal NIC matches nothing.
    {"edge1", "internal", "tcp 203.0.113.7:40000 > 131.107.155.110:443", "default_internal_ingress"},
    // Reverse proxy.
    {"rproxy", "external", "tcp 203.0.113.7:40000 > 10.45.16.40:80", "rproxy-ext-http"},
    {"rproxy", "external", "tcp 203.0.113.7:40000 > 10.45.16.40:443", "rproxy-ext-https"},
    {"rproxy", "external", "tcp 203.0.113.7:40000 > 10.45.16.40:8080", "default_external_ingress"},
    {"rproxy", "internal", "egress tcp 172.25.33.40:40000 > 192.168.10.190:8080", "rproxy-int-autodiscover-http"},
    {"rproxy", "internal", "egress tcp 172.25.33.40:40000 > 192.168.10.190:4443", "rproxy-int-https"},
    {"rproxy", "internal", "egress tcp 172.25.33.40:40000 > 192.168.10.190:443", "default_internal_egress"},
    // Neighbour discovery always passes.
    {"edge1", "external", "icmp6 [fe80::1] > [ff02::1] type 135", "nd_pass"},
};
// clang-format on

extern const unsigned kRowCount = sizeof(kRows) / sizeof(kRows[0]);

}  // namespace seedrows
