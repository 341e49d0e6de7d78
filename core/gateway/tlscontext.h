#pragma once

#include <memory>
#include <string>
#include <string_view>

struct ssl_st;

namespace boost::asio::ssl {
class context;
}

namespace l0l3 {

// OpenSSL contexts for the gateway's two TLS roles. Both require TLS 1.2 or
// later. A context is set up once and then shared by every I/O thread
// (OpenSSL allows concurrent SSL_new on a configured SSL_CTX).
namespace TlsContext {

// Client side (upstreams): the peer's chain is verified against caFile when
// given (a private CA; the system store is then not consulted), else against
// the system store. There is no way to turn verification off.
// nullptr and a reason when caFile cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> client(const std::string &caFile, std::string *error);
// The same, showing certFile (chain, leaf first) and keyFile (PEM) to servers
// that ask for a client certificate (mTLS); both empty: none.
std::shared_ptr<boost::asio::ssl::context> client(const std::string &caFile, const std::string &certFile,
                                                  const std::string &keyFile, std::string *error);

// Server side (the gateway's or the stub's listener): certFile holds the
// certificate chain (leaf first), keyFile its private key, both PEM.
// nullptr and a reason when either cannot be loaded or they do not match.
std::shared_ptr<boost::asio::ssl::context> server(const std::string &certFile, const std::string &keyFile,
                                                  std::string *error);

// Before a client handshake on ssl: SNI for a DNS name (never for an IP
// literal, RFC 6066) and the name or address the certificate must carry,
// checked by OpenSSL during chain verification. False and a reason if
// OpenSSL refuses either.
bool expectPeer(ssl_st *ssl, std::string_view host, std::string *error);

// After a failed handshake: OpenSSL's reason the peer's certificate was
// refused (X509_verify_cert_error_string), or empty when verification was
// not the failure.
std::string verifyFailure(const ssl_st *ssl);

} // namespace TlsContext

} // namespace l0l3
