using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>One Api (keys on) against a bucket of its own, shared by the bad-input corpus: nothing it refuses may change anything.</summary>
public sealed class KeyedApiFixture : IAsyncLifetime
{
    public const string IngestKey = "ingest-key-0123456789abcdef0123456789";
    public const string AdminKey = "admin-key-0123456789abcdef01234567890";
    public const string FmeKey = "fme-sdk-key-0123456789abcdefghijklmn";

    private S3rverBucket _bucket = null!;

    internal ApiHost Api { get; private set; } = null!;

    /// <summary>The document this Api serves.</summary>
    internal ApiContract Contract { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync("bad-input");
        // The FME key lets the FME SDK post to /fme/api; nothing is forwarded to FME from here.
        Api = await ApiHost.StartAsync(_bucket, ("INGEST_API_KEY", IngestKey), ("ADMIN_API_KEY", AdminKey),
            ("HARNESS_FME_API_KEY", FmeKey), ("FME_FORWARD", "off"));
        Contract = await ApiContract.FetchAsync(Api.Http);
    }

    public async Task DisposeAsync()
    {
        await Api.DisposeAsync();
        await _bucket.DisposeAsync();
    }
}

/// <summary>
/// A table of bad requests, each rule at its edge: every one gets its exact status and problem type, and leaves the
/// spool and the pending count as they were.
/// </summary>
public sealed class BadInputTests(KeyedApiFixture fixture) : IClassFixture<KeyedApiFixture>
{
    private const string Json = "application/json";
    private const string Ndjson = "application/x-ndjson";
    private const string TooManyEvents = "urn:trackmulti:problem:too-many-events";
    private const string Malformed = "urn:trackmulti:problem:malformed-json";
    private const string EmptyBatch = "urn:trackmulti:problem:empty-batch";
    private const string Invalid = "urn:trackmulti:problem:invalid-event";
    private const string TooLarge = "urn:trackmulti:problem:body-too-large";
    private const string MediaType = "urn:trackmulti:problem:unsupported-media-type";
    private const string MissingKey = "urn:trackmulti:problem:missing-api-key";
    private const string WrongKey = "urn:trackmulti:problem:wrong-api-key";
    private const string MissingSdkKey = "urn:trackmulti:problem:missing-sdk-key";
    private const string WrongSdkKey = "urn:trackmulti:problem:wrong-sdk-key";
    private const string Beacon = "text/plain;charset=UTF-8";
    private const string SdkEvent = """{"eventTypeId":"probe_event","trafficTypeName":"user","value":0,"timestamp":1796109259152,"key":"user-1","properties":{"n":0}}""";
    private const string SdkImpression = """{"k":"user-1","t":"on","m":1796109357330,"c":5,"r":"default rule"}""";

    public sealed record Case(string Name, string Path, string? ContentType, byte[] Body, string? Key, string? Bearer, int Status, string Type, string? Field = null)
    {
        public override string ToString() => Name;
    }

    private static Case Batch(string name, string? contentType, string body, int status, string type, string? field = null) =>
        new(name, "/api/batch", contentType, Encoding.UTF8.GetBytes(body), KeyedApiFixture.IngestKey, null, status, type, field);

    private static Case Body(string name, string body, int status, string type, string? field = null) =>
        new(name, "/api/track", Json, Encoding.UTF8.GetBytes(body), KeyedApiFixture.IngestKey, null, status, type, field);

    /// <summary>A post as the FME SDK makes it: its key as Bearer (none for a beacon, which carries it in the body).</summary>
    private static Case Sdk(string name, string path, string? contentType, string body, string? bearer, int status, string type, string? field = null) =>
        new(name, "/fme/api" + path, contentType, Encoding.UTF8.GetBytes(body), null, bearer, status, type, field);

    private static string Events(string evt) => $"[{evt}]";

    private static string EventWith(string change) => SdkEvent.Replace("}}", "}," + change + "}");

    private static string BeaconOf(string entries, string? token = KeyedApiFixture.FmeKey) =>
        token is null ? $$"""{"entries":{{entries}},"sdk":"browserjs-1.7.1"}""" : $$"""{"entries":{{entries}},"token":"{{token}}","sdk":"browserjs-1.7.1"}""";

    private static string Properties(int count) =>
        "{" + string.Join(",", Enumerable.Range(0, count).Select(i => $"\"p{i}\":{i}")) + "}";

    public static IEnumerable<object[]> Cases()
    {
        var cases = new List<Case>
        {
            // Not JSON, or not one object
            Body("empty body", "", 400, Malformed),
            Body("whitespace body", "   \n ", 400, Malformed),
            Body("truncated JSON", """{"name":"a" """, 400, Malformed),
            Body("trailing comma", """{"name":"a",}""", 400, Malformed),
            Body("single quotes", "{'name':'a'}", 400, Malformed),
            Body("two objects", """{"name":"a"} {"name":"b"}""", 400, Malformed),
            Body("NaN literal", """{"name":"a","value":NaN}""", 400, Malformed),
            Body("Infinity literal", """{"name":"a","value":Infinity}""", 400, Malformed),
            Body("duplicate name", """{"name":"a","name":"b"}""", 400, Malformed),
            Body("duplicate property", """{"name":"a","properties":{"x":1,"x":2}}""", 400, Malformed),
            Body("comment", """{"name":"a" /* c */}""", 400, Malformed),
            Body("nesting deeper than 32", """{"name":"a","deep":""" + new string('[', 40) + new string(']', 40) + "}", 400, Malformed),
            Body("array body", """[{"name":"a"}]""", 400, Malformed),
            Body("string body", "\"a\"", 400, Malformed),
            Body("number body", "42", 400, Malformed),
            Body("null body", "null", 400, Malformed),
            new("invalid UTF-8", "/api/track", Json, [.. "{\"name\":\"a\",\"x\":\""u8.ToArray(), 0xC3, 0x28, .. "\"}"u8.ToArray()],
                KeyedApiFixture.IngestKey, null, 400, Malformed),
            // name: the FME event type rule
            Body("missing name", "{}", 400, Invalid, "name"),
            Body("null name", """{"name":null}""", 400, Invalid, "name"),
            Body("empty name", """{"name":""}""", 400, Invalid, "name"),
            Body("blank name", """{"name":"   "}""", 400, Invalid, "name"),
            Body("numeric name", """{"name":5}""", 400, Invalid, "name"),
            Body("81-character name", $$"""{"name":"{{new string('a', 81)}}"}""", 400, Invalid, "name"),
            Body("name starting with '-'", """{"name":"-abc"}""", 400, Invalid, "name"),
            Body("name starting with '_'", """{"name":"_abc"}""", 400, Invalid, "name"),
            Body("name with a space", """{"name":"bad event"}""", 400, Invalid, "name"),
            Body("name with '!'", """{"name":"bad!"}""", 400, Invalid, "name"),
            Body("name with '/'", """{"name":"a/b"}""", 400, Invalid, "name"),
            Body("name with an accent", """{"name":"événement"}""", 400, Invalid, "name"),
            Body("name ending in a newline", """{"name":"click\n"}""", 400, Invalid, "name"),
            Body("a lone surrogate", """{"name":"a","key":"\uD800"}""", 400, Malformed),
            Body("Name beside name", """{"name":"a","Name":"b"}""", 400, Invalid, "Name"),
            Body("ReceivedAt in another case", """{"name":"a","ReceivedAt":"1999-01-01T00:00:00.000Z"}""", 400, Invalid, "ReceivedAt"),
            // trafficType
            Body("numeric trafficType", """{"name":"a","trafficType":1}""", 400, Invalid, "trafficType"),
            Body("empty trafficType", """{"name":"a","trafficType":""}""", 400, Invalid, "trafficType"),
            Body("object trafficType", """{"name":"a","trafficType":{}}""", 400, Invalid, "trafficType"),
            // key
            Body("empty key", """{"name":"a","key":""}""", 400, Invalid, "key"),
            Body("blank key", """{"name":"a","key":"   "}""", 400, Invalid, "key"),
            Body("251-character key", $$"""{"name":"a","key":"{{new string('k', 251)}}"}""", 400, Invalid, "key"),
            Body("numeric key", """{"name":"a","key":42}""", 400, Invalid, "key"),
            // value
            Body("string value", """{"name":"a","value":"1"}""", 400, Invalid, "value"),
            Body("boolean value", """{"name":"a","value":true}""", 400, Invalid, "value"),
            Body("overflowing value", """{"name":"a","value":1e400}""", 400, Invalid, "value"),
            Body("negative overflowing value", """{"name":"a","value":-1e400}""", 400, Invalid, "value"),
            Body("object value", """{"name":"a","value":{}}""", 400, Invalid, "value"),
            Body("array value", """{"name":"a","value":[1]}""", 400, Invalid, "value"),
            // properties
            Body("array properties", """{"name":"a","properties":[]}""", 400, Invalid, "properties"),
            Body("string properties", """{"name":"a","properties":"x"}""", 400, Invalid, "properties"),
            Body("numeric properties", """{"name":"a","properties":1}""", 400, Invalid, "properties"),
            Body("nested object property", """{"name":"a","properties":{"o":{"b":1}}}""", 400, Invalid, "properties"),
            Body("nested array property", """{"name":"a","properties":{"o":[1]}}""", 400, Invalid, "properties"),
            Body("301 properties", $$$"""{"name":"a","properties":{{{Properties(301)}}}}""", 400, Invalid, "properties"),
            // FME counts 1 KB + 2 per character: {"s": 15871 characters} is exactly 32 KB, one more is over
            Body("properties 2 bytes over FME's 32 KB", $$$"""{"name":"a","properties":{"s":"{{{new string('x', 15872)}}}"}}""", 400, Invalid, "properties"),
            Body("properties far over 32 KB", $$$"""{"name":"a","properties":{"s":"{{{new string('x', 32 * 1024)}}}"}}""", 400, Invalid, "properties"),
            Body("receivedAt from the client", """{"name":"a","receivedAt":"2025-01-01T00:00:00.000Z"}""", 400, Invalid, "receivedAt"),
            Body("two bad fields", """{"name":"a b","value":"x"}""", 400, Invalid, "value"),
            // size
            Body("body over 64 KiB", $$"""{"name":"a","pad":"{{new string('x', 70 * 1024)}}"}""", 413, TooLarge),
            Body("1 MiB body", $$"""{"name":"a","pad":"{{new string('x', 1024 * 1024)}}"}""", 413, TooLarge),
            // content type
            new("text/plain", "/api/track", "text/plain", """{"name":"a"}"""u8.ToArray(), KeyedApiFixture.IngestKey, null, 415, MediaType),
            new("no content type", "/api/track", null, """{"name":"a"}"""u8.ToArray(), KeyedApiFixture.IngestKey, null, 415, MediaType),
            new("form post", "/api/track", "application/x-www-form-urlencoded", "name=a"u8.ToArray(), KeyedApiFixture.IngestKey, null, 415, MediaType),
            new("XML", "/api/track", "application/xml", "<name>a</name>"u8.ToArray(), KeyedApiFixture.IngestKey, null, 415, MediaType),
            // keys
            new("no key", "/api/track", Json, """{"name":"a"}"""u8.ToArray(), null, null, 401, MissingKey),
            new("wrong X-Api-Key", "/api/track", Json, """{"name":"a"}"""u8.ToArray(), "nope", null, 403, WrongKey),
            new("wrong Bearer key", "/api/track", Json, """{"name":"a"}"""u8.ToArray(), null, "nope", 403, WrongKey),
            new("key in the wrong case", "/api/track", Json, """{"name":"a"}"""u8.ToArray(), KeyedApiFixture.IngestKey.ToUpperInvariant(), null, 403, WrongKey),
            // POST /api/batch: the same rules per event, all or nothing, and limits of its own
            Batch("batch: not an array", Json, """{"name":"a"}""", 400, Malformed),
            Batch("batch: empty array", Json, "[]", 400, EmptyBatch),
            Batch("batch: truncated array", Json, """[{"name":"a"},""", 400, Malformed),
            Batch("batch: one bad event among good ones", Json, """[{"name":"a"},{"name":"a b"},{"name":"c"}]""", 400, Invalid, "[1].name"),
            Batch("batch: an element that is not an object", Json, """[{"name":"a"},7]""", 400, Invalid, "[1]"),
            Batch("batch: a client's receivedAt", Json, """[{"name":"a","receivedAt":"2025-01-01T00:00:00.000Z"}]""", 400, Invalid, "[0].receivedAt"),
            Batch("batch: NDJSON with a line that is not JSON", Ndjson, "{\"name\":\"a\"}\n{\"name\":\n", 400, Invalid, "[1]"),
            Batch("batch: NDJSON with a bad value", Ndjson, "{\"name\":\"a\"}\n{\"name\":\"b\",\"value\":\"x\"}\n", 400, Invalid, "[1].value"),
            Batch("batch: NDJSON with no event", Ndjson, "\n\n", 400, EmptyBatch),
            Batch("batch: empty NDJSON", Ndjson, "", 400, EmptyBatch),
            Batch("batch: over BATCH_MAX_EVENTS", Json, "[" + string.Join(",", Enumerable.Repeat("""{"name":"a"}""", 1001)) + "]", 413, TooManyEvents),
            Batch("batch: NDJSON over BATCH_MAX_EVENTS", Ndjson, string.Concat(Enumerable.Repeat("{\"name\":\"a\"}\n", 1001)), 413, TooManyEvents),
            Batch("batch: body over BATCH_MAX_BODY_BYTES", Json, $$"""[{"name":"a","pad":"{{new string('x', 1024 * 1024)}}"}]""", 413, TooLarge),
            Batch("batch: text/plain", "text/plain", """[{"name":"a"}]""", 415, MediaType),
            Batch("batch: no content type", null, """[{"name":"a"}]""", 415, MediaType),
            new("batch without a key", "/api/batch", Json, """[{"name":"a"}]"""u8.ToArray(), null, null, 401, MissingKey),
            new("admin key on track", "/api/track", Json, """{"name":"a"}"""u8.ToArray(), KeyedApiFixture.AdminKey, null, 403, WrongKey),
            new("flush without a key", "/api/flush", null, [], null, null, 401, MissingKey),
            new("flush with the ingest key", "/api/flush", null, [], KeyedApiFixture.IngestKey, null, 403, WrongKey),
            new("object list without a key", "/api/objects", null, [], null, null, 401, MissingKey),
            // The FME SDK's posts: its key, its shapes, /api/track's rules, /api/batch's limits
            Sdk("sdk events: no key", "/events/bulk", Json, Events(SdkEvent), null, 401, MissingSdkKey),
            Sdk("sdk events: another environment's key", "/events/bulk", Json, Events(SdkEvent), "another-fme-key", 403, WrongSdkKey),
            Sdk("sdk events: the ingest key instead of the FME key", "/events/bulk", Json, Events(SdkEvent), KeyedApiFixture.IngestKey, 403, WrongSdkKey),
            Sdk("sdk events beacon: no token", "/events/beacon", Beacon, BeaconOf(Events(SdkEvent), token: null), null, 401, MissingSdkKey),
            Sdk("sdk events beacon: wrong token", "/events/beacon", Beacon, BeaconOf(Events(SdkEvent), token: "nope"), null, 403, WrongSdkKey),
            Sdk("sdk events beacon: no entries", "/events/beacon", Beacon, $$"""{"token":"{{KeyedApiFixture.FmeKey}}"}""", null, 400, Malformed),
            Sdk("sdk events beacon: a form post", "/events/beacon", "application/x-www-form-urlencoded", BeaconOf(Events(SdkEvent)), null, 415, MediaType),
            Sdk("sdk events: text/plain on bulk", "/events/bulk", "text/plain", Events(SdkEvent), KeyedApiFixture.FmeKey, 415, MediaType),
            Sdk("sdk events: not an array", "/events/bulk", Json, SdkEvent, KeyedApiFixture.FmeKey, 400, Malformed),
            Sdk("sdk events: empty array", "/events/bulk", Json, "[]", KeyedApiFixture.FmeKey, 400, EmptyBatch),
            Sdk("sdk events beacon: no entries in its array", "/events/beacon", Beacon, BeaconOf("[]"), null, 400, EmptyBatch),
            Sdk("sdk events: bad event type", "/events/bulk", Json, Events(SdkEvent.Replace("probe_event", "bad event!")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].eventTypeId"),
            Sdk("sdk events: bad event type in a beacon", "/events/beacon", Beacon, BeaconOf(Events(SdkEvent.Replace("probe_event", "bad event!"))), null, 400, Invalid, "[0].eventTypeId"),
            Sdk("sdk events: no timestamp", "/events/bulk", Json, Events(SdkEvent.Replace("\"timestamp\":1796109259152,", "")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].timestamp"),
            Sdk("sdk events: an ISO timestamp", "/events/bulk", Json, Events(SdkEvent.Replace("1796109259152", "\"2026-12-01T00:00:00Z\"")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].timestamp"),
            Sdk("sdk events: a zero timestamp", "/events/bulk", Json, Events(SdkEvent.Replace("1796109259152", "0")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].timestamp"),
            Sdk("sdk events: a blank key", "/events/bulk", Json, Events(SdkEvent.Replace("\"key\":\"user-1\"", "\"key\":\"  \"")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].key"),
            Sdk("sdk events: no key in the event", "/events/bulk", Json, Events(SdkEvent.Replace("\"key\":\"user-1\",", "")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].key"),
            Sdk("sdk events: no traffic type", "/events/bulk", Json, Events(SdkEvent.Replace("\"trafficTypeName\":\"user\",", "")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].trafficTypeName"),
            Sdk("sdk events: the seed's 'name' beside eventTypeId", "/events/bulk", Json, Events(EventWith("\"name\":\"x\"")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].name"),
            Sdk("sdk events: a client's receivedAt", "/events/bulk", Json, Events(EventWith("\"receivedAt\":\"2025-01-01T00:00:00.000Z\"")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].receivedAt"),
            Sdk("sdk events: nested property", "/events/bulk", Json, Events(SdkEvent.Replace("{\"n\":0}", "{\"n\":{\"o\":1}}")), KeyedApiFixture.FmeKey, 400, Invalid, "[0].properties"),
            Sdk("sdk events: one bad among good", "/events/bulk", Json, $"[{SdkEvent},{SdkEvent.Replace("\"value\":0", "\"value\":\"0\"")}]", KeyedApiFixture.FmeKey, 400, Invalid, "[1].value"),
            Sdk("sdk events: over BATCH_MAX_EVENTS", "/events/bulk", Json, "[" + string.Join(",", Enumerable.Repeat(SdkEvent, 1001)) + "]", KeyedApiFixture.FmeKey, 413, TooManyEvents),
            Sdk("sdk events: body over BATCH_MAX_BODY_BYTES", "/events/bulk", Json, Events(SdkEvent.Replace("{\"n\":0}", $$"""{"s":"{{new string('x', 1024 * 1024)}}"}""")), KeyedApiFixture.FmeKey, 413, TooLarge),
            Sdk("sdk impressions: no key", "/testImpressions/bulk", Json, $$"""[{"f":"flag","i":[{{SdkImpression}}]}]""", null, 401, MissingSdkKey),
            Sdk("sdk impressions: no user key", "/testImpressions/bulk", Json, $$"""[{"f":"flag","i":[{{SdkImpression.Replace("\"k\":\"user-1\",", "")}}]}]""", KeyedApiFixture.FmeKey, 400, Invalid, "[0].i[0].k"),
            Sdk("sdk impressions: time not a number", "/testImpressions/bulk", Json, $$"""[{"f":"flag","i":[{{SdkImpression.Replace("1796109357330", "\"now\"")}}]}]""", KeyedApiFixture.FmeKey, 400, Invalid, "[0].i[0].m"),
            Sdk("sdk impressions: no flag", "/testImpressions/bulk", Json, $$"""[{"i":[{{SdkImpression}}]}]""", KeyedApiFixture.FmeKey, 400, Invalid, "[0].f"),
            Sdk("sdk impressions: i not an array", "/testImpressions/bulk", Json, """[{"f":"flag","i":{}}]""", KeyedApiFixture.FmeKey, 400, Invalid, "[0].i"),
            Sdk("sdk impressions: an entry that is not an object", "/testImpressions/bulk", Json, "[7]", KeyedApiFixture.FmeKey, 400, Invalid, "[0]"),
            Sdk("sdk impressions: empty array", "/testImpressions/bulk", Json, "[]", KeyedApiFixture.FmeKey, 400, EmptyBatch),
            Sdk("sdk impressions: a flag with none", "/testImpressions/bulk", Json, """[{"f":"flag","i":[]}]""", KeyedApiFixture.FmeKey, 400, EmptyBatch),
            Sdk("sdk impressions: a blank treatment", "/testImpressions/bulk", Json, $$"""[{"f":"flag","i":[{{SdkImpression.Replace("\"t\":\"on\"", "\"t\":\" \"")}}]}]""", KeyedApiFixture.FmeKey, 400, Invalid, "[0].i[0].t"),
            Sdk("sdk impressions: a negative previous time", "/testImpressions/bulk", Json, $$"""[{"f":"flag","i":[{{SdkImpression.Replace("}", ",\"pt\":-1}")}}]}]""", KeyedApiFixture.FmeKey, 400, Invalid, "[0].i[0].pt"),
            Sdk("sdk impressions beacon: entries not an array", "/testImpressions/beacon", Beacon, BeaconOf("{}"), null, 400, Malformed),
            Sdk("sdk impressions beacon: wrong token", "/testImpressions/beacon", Beacon, BeaconOf($$"""[{"f":"flag","i":[{{SdkImpression}}]}]""", token: "nope"), null, 403, WrongSdkKey),
            Sdk("sdk counts: no pf", "/testImpressions/count", Json, "{}", KeyedApiFixture.FmeKey, 400, Malformed),
            Sdk("sdk counts: negative count", "/testImpressions/count", Json, """{"pf":[{"f":"flag","m":1796107200000,"rc":-1}]}""", KeyedApiFixture.FmeKey, 400, Invalid, "pf[0].rc"),
            Sdk("sdk counts: none", "/testImpressions/count", Json, """{"pf":[]}""", KeyedApiFixture.FmeKey, 400, EmptyBatch),
            Sdk("sdk counts: no hour", "/testImpressions/count", Json, """{"pf":[{"f":"flag","rc":1}]}""", KeyedApiFixture.FmeKey, 400, Invalid, "pf[0].m"),
            Sdk("sdk counts beacon: no token", "/testImpressions/count/beacon", Beacon, BeaconOf("""{"pf":[{"f":"flag","m":1796107200000,"rc":1}]}""", token: null), null, 401, MissingSdkKey),
        };
        return cases.Select(c => new object[] { c });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_bad_request_gets_its_status_and_problem_type_and_changes_nothing(Case bad)
    {
        var before = await fixture.Api.StatusAsync();

        using var request = new HttpRequestMessage(bad.Path == "/api/objects" ? HttpMethod.Get : HttpMethod.Post, bad.Path);
        if (bad.Path != "/api/objects")
        {
            // As careful clients do: a body the Api refuses unread (413) is then never sent, so the answer cannot be
            // lost to a connection the Api closed mid-upload.
            request.Headers.ExpectContinue = true;
            request.Content = new ByteArrayContent(bad.Body);
            if (bad.ContentType is not null)
            {
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(bad.ContentType);
            }
        }
        if (bad.Key is not null)
        {
            request.Headers.Add("X-Api-Key", bad.Key);
        }
        if (bad.Bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bad.Bearer);
        }
        using var response = await fixture.Api.Http.SendAsync(request);

        Assert.Equal(bad.Status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var answer = await response.Content.ReadAsStringAsync();
        Assert.Empty(fixture.Contract.ResponseErrors(request.Method.Method, bad.Path, bad.Status, response.Content.Headers.ContentType?.ToString(), answer));
        var problem = Assert.IsType<JsonObject>(JsonNode.Parse(answer));
        Assert.Equal(bad.Type, problem["type"]!.GetValue<string>());
        Assert.Equal(bad.Status, problem["status"]!.GetValue<int>());
        if (bad.Field is not null)
        {
            Assert.NotNull(problem["errors"]![bad.Field]);
        }
        if (bad.Status == 401)
        {
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        }

        var after = await fixture.Api.StatusAsync();
        Assert.Equal(before["pendingEvents"]!.GetValue<int>(), after["pendingEvents"]!.GetValue<int>());
        Assert.Equal(before["spooledBytes"]!.GetValue<long>(), after["spooledBytes"]!.GetValue<long>());
        Assert.Equal(before["batchSize"]!.GetValue<int>(), after["batchSize"]!.GetValue<int>());
    }

    /// <summary>
    /// Bodies the Api refuses for a rule that JSON Schema cannot state (or the validator cannot check), so the
    /// document takes them: every other body refused as malformed, invalid, empty or of a content type not taken
    /// is refused by the document too.
    /// </summary>
    private static readonly Dictionary<string, string> RulesTheDocumentCannotState = new()
    {
        ["nesting deeper than 32"] = "a field kept as sent may be any JSON; the depth is the parser's limit",
        ["Name beside name"] = "model fields that differ only in case",
        ["ReceivedAt in another case"] = "model fields that differ only in case",
        ["overflowing value"] = "a number beyond a double is a JSON number",
        ["negative overflowing value"] = "a number beyond a double is a JSON number",
        ["properties 2 bytes over FME's 32 KB"] = "FME's size estimate of properties",
        ["properties far over 32 KB"] = "FME's size estimate of properties",
        ["name ending in a newline"] = "the document's pattern ends in $, which ECMA-262 matches only at the end; the validator's .NET regex also before a final newline",
    };

    /// <summary>The cases refused for their body or its content type (not for a key, a size or a deployment's limit).</summary>
    public static IEnumerable<object[]> BodyCases() => Cases().Where(c => ((Case)c[0]).Status is 400 or 415);

    [Theory]
    [MemberData(nameof(BodyCases))]
    public void Each_body_refused_for_a_rule_the_document_states_is_refused_by_the_document(Case bad)
    {
        var errors = fixture.Contract.RequestErrors("POST", bad.Path, bad.ContentType, bad.Body);

        if (RulesTheDocumentCannotState.TryGetValue(bad.Name, out var why))
        {
            Assert.True(errors.Count == 0, $"The document now refuses it ({string.Join("; ", errors)}): take it off the list ({why}).");
        }
        else
        {
            Assert.NotEmpty(errors);
        }
    }

    [Theory]
    [InlineData("Development")]
    [InlineData("Production")]
    public async Task Every_bad_query_parameter_is_a_documented_problem_in_every_environment_and_logs_no_error(string environment)
    {
        await using var bucket = await S3rverBucket.CreateAsync("bad-parameters");
        await using var api = await ApiHost.StartAsync(bucket, ("DOTNET_ENVIRONMENT", environment));
        Assert.Equal(environment, api.Services.GetRequiredService<IHostEnvironment>().EnvironmentName);
        var contract = await ApiContract.FetchAsync(api.Http);
        var parameters = (from path in contract.Document["paths"]!.AsObject()
                          from operation in path.Value!.AsObject()
                          from parameter in operation.Value!["parameters"]?.AsArray() ?? []
                          where parameter!["in"]!.GetValue<string>() == "query"
                          select (Path: path.Key, Method: operation.Key, Name: parameter["name"]!.GetValue<string>())).ToList();
        Assert.Contains(("/api/objects", "get", "limit"), parameters);

        foreach (var (path, method, name) in parameters)
        {
            foreach (var value in new[] { "abc", "1.5", "99999999999", "", "1e3", "0", "101", "-1", " 5", "5abc" })
            {
                var target = $"{path}?{name}={Uri.EscapeDataString(value)}";
                using var response = await api.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), target));
                var answer = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;

                Assert.True(status == 400, $"{target}: {status} {answer}");
                var type = JsonNode.Parse(answer)?["type"]?.GetValue<string>();
                Assert.True(ApiContract.DocumentsProblem(contract.Operation(method, path)!, status, type ?? ""), $"{target}: {type} is not documented");
                Assert.Empty(contract.ResponseErrors(method, target, status, response.Content.Headers.ContentType?.ToString(), answer));
                Assert.NotEmpty(contract.RequestErrors(method, target, null, (string?)null)); // the document refuses it too
            }
        }
        foreach (var target in new[] { "/api/objects?limit=1", "/api/objects?limit=100", "/api/objects" })
        {
            using var response = await api.Http.GetAsync(target);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Empty(contract.RequestErrors("GET", target, null, (string?)null));
        }

        Assert.DoesNotContain(api.Logs.GetSnapshot(), record => record.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task The_keys_never_appear_in_the_logs()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/track") { Content = JsonContent.Create(new JsonObject { ["name"] = "logged" }) };
        request.Headers.Add("X-Api-Key", KeyedApiFixture.IngestKey);
        (await fixture.Api.Http.SendAsync(request)).EnsureSuccessStatusCode();
        using var flush = new HttpRequestMessage(HttpMethod.Post, "/api/flush");
        flush.Headers.Authorization = new AuthenticationHeaderValue("Bearer", KeyedApiFixture.AdminKey);
        (await fixture.Api.Http.SendAsync(flush)).EnsureSuccessStatusCode();

        await Poll.UntilAsync(() => fixture.Api.Output.Contains("Uploaded")); // the upload's log line follows the flush's answer
        var log = fixture.Api.LogText();
        Assert.Contains("Uploaded", log); // the log is captured…
        Assert.DoesNotContain(KeyedApiFixture.IngestKey, log); // …and holds no key
        Assert.DoesNotContain(KeyedApiFixture.AdminKey, log);
        Assert.DoesNotContain(S3rverProcess.AccessKey + "\"", log);
    }
}
