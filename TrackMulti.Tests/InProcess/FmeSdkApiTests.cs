using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// The FME SDK's own posts to the Api (<c>/fme/api</c>), in the exact shapes the SDK sends (shared FME SDK notes):
/// each lands in S3 under its prefix, read back field by field, and reaches an FME stand-in with the server's key;
/// with FME failing it is in S3 all the same and forwarded once FME recovers.
/// </summary>
public sealed class FmeSdkApiTests : IAsyncLifetime
{
    private const string ClientKey = "client-side-key-abcdefghijklmnop";
    private const string ServerKey = "server-side-key-0123456789";
    private const long Time = 1796109259152;
    private S3rverBucket _bucket = null!;
    private FmeStandIn _fme = null!;
    private ApiHost _api = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync("fme-sdk");
        _fme = await FmeStandIn.StartAsync();
        _api = await ApiHost.StartAsync(_bucket, 
            ("FME_EVENTS_URL", _fme.EventsUrl),
            ("HARNESS_FME_API_KEY", ClientKey),
            ("HARNESS_FME_SERVER_KEY", ServerKey),
            ("FME_RETRIES", "0"),
            ("FME_PAUSE_MAX_SECONDS", "1"),
            ("BATCH_MAX_AGE_SECONDS", "3600"));
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        await _fme.DisposeAsync();
        await _bucket.DisposeAsync();
    }

    /// <summary>
    /// Every kind of post the FME SDK makes, as it makes them (a beacon: its entries): value and properties left out,
    /// impressions without bucketing key or previous time, and with them. The OpenAPI tests check the document takes them.
    /// </summary>
    internal static readonly (string Path, string Body, bool Beacon)[] SdkPosts =
    [
        ("/events/bulk", $$$"""[{"eventTypeId":"probe_event","trafficTypeName":"user","value":0,"timestamp":{{{Time}}},"key":"user-1","properties":{"n":0}},{"eventTypeId":"page_view","trafficTypeName":"Account","timestamp":{{{Time + 1}}},"key":"acct-7"}]""", false),
        ("/events/beacon", $$"""[{"eventTypeId":"page_hide","trafficTypeName":"user","value":1.50,"timestamp":{{Time + 2}},"key":"user-1"}]""", true),
        ("/testImpressions/bulk", $$"""[{"f":"trackmulti_demo","i":[{"k":"user-1","t":"on","m":{{Time}},"c":5,"r":"default rule"},{"k":"user-2","t":"off","m":{{Time + 5}},"c":5,"r":"default rule","b":"bucket-2","pt":{{Time - 60_000}}}]}]""", false),
        ("/testImpressions/beacon", $$"""[{"f":"other_flag","i":[{"k":"user-3","t":"v2","m":{{Time + 9}},"c":11,"r":"in segment beta"}]}]""", true),
        ("/testImpressions/count", """{"pf":[{"f":"trackmulti_demo","m":1796108400000,"rc":4}]}""", false),
        ("/testImpressions/count/beacon", """{"pf":[{"f":"other_flag","m":1796108400000,"rc":1}]}""", true),
    ];

    /// <summary>A beacon's body as the SDK sends it (<c>text/plain</c>): the entries and the SDK key.</summary>
    internal static string BeaconOf(string entries, string key) =>
        $$"""{"entries":{{entries}},"token":"{{key}}","sdk":"browserjs-1.7.1","sim":"OPTIMIZED"}""";

    /// <summary>A bulk post with the SDK's key as Bearer, or a beacon (text/plain, the key in the body).</summary>
    private async Task<JsonObject> PostAsync(string path, string body, bool beacon = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/fme/api" + path)
        {
            Content = new StringContent(beacon ? BeaconOf(body, ClientKey) : body, Encoding.UTF8, beacon ? "text/plain" : "application/json"),
        };
        if (!beacon)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ClientKey);
            request.Headers.Add("SplitSDKVersion", "browserjs-1.7.1");
        }
        using var response = await _api.Http.SendAsync(request);
        var answer = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {answer}");
        return Assert.IsType<JsonObject>(JsonNode.Parse(answer));
    }

    private async Task PostEverythingAsync()
    {
        foreach (var (path, body, beacon) in SdkPosts)
        {
            var answer = await PostAsync(path, body, beacon);
            if (path == "/events/bulk")
            {
                Assert.Equal(2, answer["accepted"]!.GetValue<int>());
            }
        }
    }

    [Fact]
    public async Task Events_impressions_and_counts_land_under_their_prefixes_field_by_field_and_reach_FME_with_the_server_key()
    {
        await PostEverythingAsync();
        using (var flush = await _api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }

        // Events: the seed's row, from the SDK's fields, with its timestamp, then the server's receivedAt.
        var events = await _bucket.LinesAsync("events/");
        Assert.Equal(3, events.Count);
        var probe = events.Single(e => e["name"]!.GetValue<string>() == "probe_event");
        Assert.Equal(["trafficType", "name", "key", "value", "properties", "timestamp", "receivedAt"], probe.Select(p => p.Key));
        Assert.Equal("user", probe["trafficType"]!.GetValue<string>());
        Assert.Equal("user-1", probe["key"]!.GetValue<string>());
        Assert.Equal(0, probe["value"]!.GetValue<int>());
        Assert.Equal(0, probe["properties"]!["n"]!.GetValue<int>());
        Assert.Equal(Time, probe["timestamp"]!.GetValue<long>());
        var pageView = events.Single(e => e["name"]!.GetValue<string>() == "page_view");
        Assert.Equal("account", pageView["trafficType"]!.GetValue<string>()); // lower-cased, as the SDK does
        Assert.Equal(["trafficType", "name", "key", "timestamp", "receivedAt"], pageView.Select(p => p.Key));
        var beaconed = events.Single(e => e["name"]!.GetValue<string>() == "page_hide");
        Assert.Contains("\"value\":1.50,", beaconed.ToJsonString()); // kept as sent
        Assert.Equal(Time + 2, beaconed["timestamp"]!.GetValue<long>());

        // Impressions: one row each, the SDK's short names spelled out.
        var impressions = await _bucket.LinesAsync("impressions/");
        Assert.Equal(3, impressions.Count);
        var second = impressions.Single(i => i["key"]!.GetValue<string>() == "user-2");
        Assert.Equal(["feature", "key", "treatment", "time", "changeNumber", "label", "bucketingKey", "previousTime", "receivedAt"], second.Select(p => p.Key));
        Assert.Equal("trackmulti_demo", second["feature"]!.GetValue<string>());
        Assert.Equal("off", second["treatment"]!.GetValue<string>());
        Assert.Equal(Time + 5, second["time"]!.GetValue<long>());
        Assert.Equal(5, second["changeNumber"]!.GetValue<long>());
        Assert.Equal("default rule", second["label"]!.GetValue<string>());
        Assert.Equal("bucket-2", second["bucketingKey"]!.GetValue<string>());
        Assert.Equal(Time - 60_000, second["previousTime"]!.GetValue<long>());
        var first = impressions.Single(i => i["key"]!.GetValue<string>() == "user-1");
        Assert.Equal(["feature", "key", "treatment", "time", "changeNumber", "label", "receivedAt"], first.Select(p => p.Key));
        Assert.Equal("other_flag", impressions.Single(i => i["key"]!.GetValue<string>() == "user-3")["feature"]!.GetValue<string>());

        var counts = await _bucket.LinesAsync("impression-counts/");
        Assert.Equal([("trackmulti_demo", 4L), ("other_flag", 1L)],
            counts.Select(c => (c["feature"]!.GetValue<string>(), c["count"]!.GetValue<long>())).OrderByDescending(c => c.Item2));
        Assert.All(counts, c => Assert.Equal(1796108400000, c["timeFrame"]!.GetValue<long>()));

        // FME: the same, in Split's shapes, with the server's key (FME_FORWARD=sdk, the default, covers exactly these).
        await Poll.UntilAsync(() => _fme.PostsTo("/events/bulk").Sum(p => p.Events().Count) >= 3
            && _fme.PostsTo("/testImpressions/bulk").Sum(p => p.Impressions().Count) >= 3
            && _fme.PostsTo("/testImpressions/count").Sum(p => p.Counts().Count) >= 2);
        Assert.All(_fme.Posts, post => Assert.Equal($"Bearer {ServerKey}", post.Authorization));
        var forwarded = _fme.PostsTo("/events/bulk").SelectMany(p => p.Events()).ToList();
        Assert.Equal([Time, Time + 1, Time + 2], forwarded.Select(e => e["timestamp"]!.GetValue<long>()).Order());
        Assert.Equal("probe_event", forwarded.Single(e => e["timestamp"]!.GetValue<long>() == Time)["eventTypeId"]!.GetValue<string>());
        var impression = _fme.PostsTo("/testImpressions/bulk").SelectMany(p => p.Impressions()).Single(i => i["k"]!.GetValue<string>() == "user-2");
        Assert.Equal("""{"k":"user-2","t":"off","m":1796109259157,"c":5,"r":"default rule","b":"bucket-2","pt":1796109199152,"f":"trackmulti_demo"}""", impression.ToJsonString());
        Assert.Contains(_fme.PostsTo("/testImpressions/count").SelectMany(p => p.Counts()),
            c => c.ToJsonString() == """{"f":"trackmulti_demo","m":1796108400000,"rc":4}""");
    }

    [Fact]
    public async Task With_FME_failing_the_SDKs_posts_are_in_S3_and_reach_FME_once_it_recovers()
    {
        _fme.Answer = HttpStatusCode.ServiceUnavailable;
        await PostEverythingAsync();
        using (var flush = await _api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode); // a flush waits for S3 only
        }
        Assert.Equal(3, (await _bucket.LinesAsync("events/")).Count);
        Assert.Equal(3, (await _bucket.LinesAsync("impressions/")).Count);
        Assert.Equal(2, (await _bucket.LinesAsync("impression-counts/")).Count);
        await Poll.UntilAsync(() => _fme.Refused >= 3);
        Assert.Empty(_fme.AcceptedEvents());

        _fme.Answer = null;
        await Poll.UntilAsync(() => _fme.PostsTo("/events/bulk").Where(p => p.Answered == HttpStatusCode.OK).Sum(p => p.Events().Count) == 3
            && _fme.PostsTo("/testImpressions/bulk").Where(p => p.Answered == HttpStatusCode.OK).Sum(p => p.Impressions().Count) == 3
            && _fme.PostsTo("/testImpressions/count").Where(p => p.Answered == HttpStatusCode.OK).Sum(p => p.Counts().Count) == 2);
        // Acknowledged: nothing is sent again.
        await Poll.UntilAsync(async () =>
        {
            var sinks = (await _api.StatusAsync())["sinks"]!.AsArray();
            return sinks.Single(s => s!["name"]!.GetValue<string>() == "fme")!["backlogEvents"]!.GetValue<long>();
        }, backlog => backlog == 0, backlog => $"the FME sink never acknowledged what it sent: {backlog} events wait");
    }
}
