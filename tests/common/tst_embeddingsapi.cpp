#include <QTest>

#include <cmath>

#include "core/common/embedding.h"
#include "core/common/embeddingsapi.h"
#include "core/common/lexicalembedder.h"

using namespace l0l3;

class TestEmbeddingsApi : public QObject
{
    Q_OBJECT

private slots:
    void requestParsesBack()
    {
        const std::string_view inputs[] = {"How do I reset my password?", "caf\xC3\xA9 \"quoted\""};
        const std::string body = EmbeddingsApi::request("text-embedding-3-small", inputs);
        EmbeddingsApi::Request r;
        std::string why;
        QVERIFY2(EmbeddingsApi::parseRequest(body, &r, &why), why.c_str());
        QCOMPARE(r.model, std::string("text-embedding-3-small"));
        QVERIFY(r.inputIsArray);
        QCOMPARE(r.inputs.size(), std::size_t(2));
        QCOMPARE(r.inputs[1], std::string(inputs[1]));

        QVERIFY(EmbeddingsApi::parseRequest(R"({"model":"m","input":"one","dimensions":64})", &r, &why));
        QVERIFY(!r.inputIsArray);
        QCOMPARE(r.dimensions, 64);
        QCOMPARE(r.inputs.size(), std::size_t(1));
        for (const char *bad : {R"({"model":"m"})", R"({"model":"m","input":[]})", R"({"model":"m","input":[1]})",
                                R"({"input":"x"})", R"({"model":"m","input":"x","encoding_format":"base64"})",
                                R"({"model":"m","input":"x","dimensions":0})", "[]", "{"})
            QVERIFY2(!EmbeddingsApi::parseRequest(bad, &r, &why), bad);
    }

    // The stub's response carries the lexical vectors; parsing gives them back in input order.
    void responseRoundTrip()
    {
        const LexicalEmbedder embedder(64);
        const std::vector<std::vector<float>> vectors = {embedder.embed("reset my password"), embedder.embed("..."),
                                                         embedder.embed("forgot my password")};
        const std::string body = EmbeddingsApi::response("m", vectors, 7);
        std::vector<std::vector<float>> back;
        std::string why;
        QVERIFY2(EmbeddingsApi::parseResponse(body, 3, &back, &why), why.c_str());
        QCOMPARE(back.size(), std::size_t(3));
        QVERIFY(std::fabs(dot(back[0], vectors[0]) - 1.0f) < 1e-5f);
        QVERIFY(std::fabs(dot(back[2], vectors[2]) - 1.0f) < 1e-5f);
        QCOMPARE(back[1], vectors[1]); // no features: all zeros stays all zeros
        QVERIFY(!EmbeddingsApi::parseResponse(body, 2, &back, &why));
        QVERIFY(!EmbeddingsApi::parseResponse(body, 4, &back, &why));
    }

    void responseIsNormalisedAndOrdered()
    {
        std::vector<std::vector<float>> v;
        std::string why;
        QVERIFY2(EmbeddingsApi::parseResponse(
                     R"({"data":[{"index":1,"embedding":[0,2]},{"index":0,"embedding":[3,4]}],"model":"x"})", 2, &v,
                     &why),
                 why.c_str());
        QCOMPARE(v[0], (std::vector<float>{0.6f, 0.8f}));
        QCOMPARE(v[1], (std::vector<float>{0.0f, 1.0f}));
    }

    void untrustedResponsesAreRefused()
    {
        std::vector<std::vector<float>> v;
        std::string why;
        const std::string tooLong = "{\"data\":[{\"index\":0,\"embedding\":[" + std::string(2048 * 2, '1') + "]}]}";
        std::string huge = "{\"data\":[{\"index\":0,\"embedding\":[1";
        for (int i = 0; i < 2048; ++i)
            huge += ",1";
        huge += "]}]}";
        for (const std::string &bad :
             {std::string("{}"), std::string(R"({"data":{}})"), std::string(R"({"data":[{"embedding":[1]}]})"),
              std::string(R"({"data":[{"index":0,"embedding":[]}]})"),
              std::string(R"({"data":[{"index":0,"embedding":["1"]}]})"),
              std::string(R"({"data":[{"index":0,"embedding":[1e400]}]})"),
              std::string(R"({"data":[{"index":1,"embedding":[1]}]})"),
              std::string(R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]})"), tooLong, huge,
              std::string("not json")})
            QVERIFY2(!EmbeddingsApi::parseResponse(bad, 1, &v, &why), bad.substr(0, 80).c_str());
        QVERIFY(!EmbeddingsApi::parseResponse(R"({"data":[{"index":0,"embedding":[1,0]},{"index":1,"embedding":[1]}]})",
                                              2, &v, &why));
    }

    void modelIdsAndNames()
    {
        QCOMPARE(EmbeddingsApi::modelId("text-embedding-3-small"), std::string("openai:text-embedding-3-small"));
        QVERIFY(EmbeddingsApi::modelId("m") != LexicalEmbedder().modelId());
        QVERIFY(EmbeddingsApi::isValidModel("nomic-embed-text:v1.5"));
        QVERIFY(!EmbeddingsApi::isValidModel(""));
        QVERIFY(!EmbeddingsApi::isValidModel("a b"));
        QVERIFY(!EmbeddingsApi::isValidModel(std::string(201, 'a')));
    }
};

QTEST_APPLESS_MAIN(TestEmbeddingsApi)
#include "tst_embeddingsapi.moc"
