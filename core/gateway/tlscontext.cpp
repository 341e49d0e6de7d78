#include "core/gateway/tlscontext.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace l0l3 {

namespace ssl = boost::asio::ssl;

namespace {

// The reason of the last OpenSSL failure on this thread, with the queue cleared.
std::string openSslReason(const boost::system::error_code &ec)
{
    std::string reason;
    if (const unsigned long e = ERR_peek_last_error(); e != 0) {
        char text[256];
        ERR_error_string_n(e, text, sizeof text);
        reason = text;
    } else {
        reason = ec.message();
    }
    ERR_clear_error();
    return reason;
}

// OpenSSL reports a missing or unreadable file as "system lib": say which and why first.
bool readable(const std::string &file, const char *what, std::string *error)
{
    if (std::FILE *f = std::fopen(file.c_str(), "rb")) {
        std::fclose(f);
        return true;
    }
    if (error)
        *error = std::string("cannot read ") + what + " '" + file + "': " + std::strerror(errno);
    return false;
}

bool restrictProtocols(ssl::context &context, std::string *error)
{
    // TLS 1.0 and 1.1 are refused in both roles.
    context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3
                        | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
    if (SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION) != 1) {
        if (error)
            *error = "cannot require TLS 1.2: " + openSslReason({});
        return false;
    }
    return true;
}

bool useCertificate(ssl::context &context, const std::string &certFile, const std::string &keyFile, std::string *error)
{
    if (!readable(certFile, "TLS certificate", error) || !readable(keyFile, "TLS key", error))
        return false;
    boost::system::error_code ec;
    context.use_certificate_chain_file(certFile, ec);
    if (ec) {
        if (error)
            *error = "cannot load TLS certificate '" + certFile + "': " + openSslReason(ec);
        return false;
    }
    context.use_private_key_file(keyFile, ssl::context::pem, ec);
    if (ec) {
        if (error)
            *error = "cannot load TLS key '" + keyFile + "' for certificate '" + certFile + "': " + openSslReason(ec);
        return false;
    }
    if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
        if (error)
            *error = "TLS key '" + keyFile + "' does not match certificate '" + certFile + "': " + openSslReason({});
        return false;
    }
    return true;
}

} // namespace

std::shared_ptr<ssl::context> TlsContext::client(const std::string &caFile, std::string *error)
{
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    if (!restrictProtocols(*context, error))
        return nullptr;
    boost::system::error_code ec;
    if (caFile.empty()) {
        context->set_default_verify_paths(ec);
        if (ec) {
            if (error)
                *error = "cannot load the system's CA certificates: " + openSslReason(ec);
            return nullptr;
        }
    } else {
        if (!readable(caFile, "CA file", error))
            return nullptr;
        context->load_verify_file(caFile, ec);
        if (ec) {
            if (error)
                *error = "cannot load CA file '" + caFile + "': " + openSslReason(ec);
            return nullptr;
        }
    }
    context->set_verify_mode(ssl::verify_peer);
    return context;
}

std::shared_ptr<ssl::context> TlsContext::client(const std::string &caFile, const std::string &certFile,
                                                 const std::string &keyFile, std::string *error)
{
    if (certFile.empty() != keyFile.empty()) {
        if (error)
            *error = "a client certificate needs both its certificate and its key file";
        return nullptr;
    }
    auto context = client(caFile, error);
    if (context && !certFile.empty() && !useCertificate(*context, certFile, keyFile, error))
        return nullptr;
    return context;
}

std::shared_ptr<ssl::context> TlsContext::server(const std::string &certFile, const std::string &keyFile,
                                                 std::string *error)
{
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    if (!restrictProtocols(*context, error) || !useCertificate(*context, certFile, keyFile, error))
        return nullptr;
    // Clients reconnect often (keep-alive ends, pools shrink): resumption saves a full handshake.
    SSL_CTX_set_session_cache_mode(context->native_handle(), SSL_SESS_CACHE_SERVER);
    return context;
}

bool TlsContext::expectPeer(ssl_st *ssl, std::string_view host, std::string *error)
{
    const std::string name(host);
    boost::system::error_code ec;
    boost::asio::ip::make_address(name, ec);
    const bool literal = !ec;
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    int ok = 1;
    if (literal) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        if (ok == 1)
            ok = static_cast<int>(SSL_set_tlsext_host_name(ssl, const_cast<char *>(name.c_str())));
    }
    if (ok != 1) {
        if (error)
            *error = "cannot expect TLS peer '" + name + "': " + openSslReason({});
        return false;
    }
    return true;
}

std::string TlsContext::verifyFailure(const ssl_st *ssl)
{
    const long result = SSL_get_verify_result(ssl);
    if (result == X509_V_OK)
        return {};
    return X509_verify_cert_error_string(result);
}

} // namespace l0l3
