using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// The Api with the seed's variables against a real S3 emulator (a bucket of its own in the shared s3rver):
/// the seed's contract, checked by reading every object back.
/// </summary>
public sealed class ApiAgainstS3rverTests : IAsyncLifetime
{
    private S3rverBucket _bucket = null!;
    private ApiHost _api = null!;

    private string Bucket => _bucket.Name;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync("seed");
        _api = await ApiHost.StartAsync(_bucket, ("BATCH_SIZE", "100"));
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        await _bucket.DisposeAsync();
    }

    private static JsonObject SeedEvent(int counter, string run) => new()
    {
        ["trafficType"] = "user",
        ["name"] = "button_click",
        ["value"] = counter,
        ["properties"] = new JsonObject
        {
            ["timestamp"] = "2025-10-24T10:30:15.123Z",
            ["counter"] = counter,
            ["run"] = run,
            ["page"] = "/",
        },
    };

    private async Task<JsonObject> TrackAsync(JsonObject evt)
    {
        using var response = await _api.Http.PostAsJsonAsync("/api/track", evt);
        Assert.True(response.IsSuccessStatusCode, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{_api.Output}");
        return Assert.IsType<JsonObject>(await response.Content.ReadFromJsonAsync<JsonNode>());
    }

    [Fact]
    public async Task Tracking_250_events_with_batch_size_100_gives_the_seeds_responses_and_250_lines_in_three_objects()
    {
        var run = Guid.NewGuid().ToString("N");
        var sent = Enumerable.Range(1, 250).Select(n => SeedEvent(n, run)).ToList();

        var responses = new List<JsonObject>();
        foreach (var evt in sent)
        {
            responses.Add(await TrackAsync(evt));
        }

        for (var i = 0; i < responses.Count; i++)
        {
            var response = responses[i];
            Assert.True(response["success"]!.GetValue<bool>());
            if (i is 99 or 199)
            {
                var flushed = Assert.IsType<JsonObject>(response["flushed"]);
                Assert.Equal(100, flushed["flushed"]!.GetValue<int>());
                Assert.StartsWith("events/batch-", flushed["filename"]!.GetValue<string>());
                Assert.Equal(Bucket, flushed["bucket"]!.GetValue<string>());
                Assert.Equal(0, response["batchSize"]!.GetValue<int>());
            }
            else
            {
                Assert.Null(response["flushed"]);
                Assert.Equal((i + 1) % 100, response["batchSize"]!.GetValue<int>());
            }
        }

        using var flush = await _api.Http.PostAsync("/api/flush", null);
        var flushBody = Assert.IsType<JsonObject>(await flush.Content.ReadFromJsonAsync<JsonNode>());
        Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        Assert.True(flushBody["success"]!.GetValue<bool>());
        Assert.Equal(50, flushBody["flushed"]!.GetValue<int>());

        using var s3 = _bucket.S3.CreateClient();
        var objects = await StoredObject.ReadAllAsync(s3, Bucket);
        Assert.Equal(3, objects.Count);
        Assert.Equal(
            new[] { responses[99]["flushed"]!["filename"]!.GetValue<string>(), responses[199]["flushed"]!["filename"]!.GetValue<string>(), flushBody["filename"]!.GetValue<string>() }.Order(StringComparer.Ordinal),
            objects.Select(o => o.Key));
        Assert.All(objects, o => Assert.Equal("application/x-ndjson", o.ContentType));
        Assert.Equal([100, 100, 50], objects.Select(o => o.Lines().Count));

        // Every line is the event as sent, plus the server's receivedAt, in the order sent.
        var lines = objects.SelectMany(o => o.Lines()).ToList();
        Assert.Equal(250, lines.Count);
        for (var i = 0; i < 250; i++)
        {
            var line = lines[i];
            var receivedAt = line["receivedAt"]!.GetValue<string>();
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", receivedAt);
            line.Remove("receivedAt");
            Assert.True(JsonNode.DeepEquals(sent[i], line), $"line {i}: {line.ToJsonString()} != {sent[i].ToJsonString()}");
        }

        var status = await _api.StatusAsync();
        Assert.Equal(0, status["pendingEvents"]!.GetValue<int>());
        Assert.Equal(100, status["maxBatchSize"]!.GetValue<int>());
        Assert.Equal(Bucket, status["s3Bucket"]!.GetValue<string>());
        Assert.Equal("us-east-1", status["region"]!.GetValue<string>());
    }

    [Fact]
    public async Task Two_flushes_in_quick_succession_write_two_objects()
    {
        var run = Guid.NewGuid().ToString("N");
        await TrackAsync(SeedEvent(1, run));
        using var first = await _api.Http.PostAsync("/api/flush", null);
        await TrackAsync(SeedEvent(2, run));
        using var second = await _api.Http.PostAsync("/api/flush", null);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        var firstKey = (await first.Content.ReadFromJsonAsync<JsonNode>())!["filename"]!.GetValue<string>();
        var secondKey = (await second.Content.ReadFromJsonAsync<JsonNode>())!["filename"]!.GetValue<string>();
        Assert.NotEqual(firstKey, secondKey);

        using var s3 = _bucket.S3.CreateClient();
        var objects = await StoredObject.ReadAllAsync(s3, Bucket);
        Assert.Equal([firstKey, secondKey], objects.Select(o => o.Key));
        Assert.Equal([1, 2], objects.Select(o => o.Lines().Single()["value"]!.GetValue<int>()));
    }

    [Fact]
    public async Task Recent_objects_are_listed_newest_first_with_their_event_counts()
    {
        var run = Guid.NewGuid().ToString("N");
        var keys = new List<string>();
        foreach (var count in new[] { 2, 3 })
        {
            for (var n = 0; n < count; n++)
            {
                await TrackAsync(SeedEvent(n, run));
            }
            using var flush = await _api.Http.PostAsync("/api/flush", null);
            keys.Add((await flush.Content.ReadFromJsonAsync<JsonNode>())!["filename"]!.GetValue<string>());
        }

        var listing = Assert.IsType<JsonObject>(await _api.Http.GetFromJsonAsync<JsonNode>("/api/objects?limit=10"));

        Assert.Equal(Bucket, listing["bucket"]!.GetValue<string>());
        var objects = listing["objects"]!.AsArray();
        Assert.Equal([keys[1], keys[0]], objects.Select(o => o!["key"]!.GetValue<string>()));
        Assert.Equal([3, 2], objects.Select(o => o!["events"]!.GetValue<int>()));
        Assert.All(objects, o => Assert.True(o!["bytes"]!.GetValue<long>() > 0));
        using var tooMany = await _api.Http.GetAsync("/api/objects?limit=1000");
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
    }

    [Fact]
    public async Task Health_keeps_the_seeds_fields()
    {
        var health = Assert.IsType<JsonObject>(await _api.Http.GetFromJsonAsync<JsonNode>("/health"));

        Assert.Equal("Harness FME + S3 Event Batching Server", health["service"]!.GetValue<string>());
        Assert.Equal("1.0.0", health["version"]!.GetValue<string>());
        Assert.Equal("POST /api/track", health["endpoints"]!["track"]!.GetValue<string>());
        Assert.Equal("POST /api/flush", health["endpoints"]!["flush"]!.GetValue<string>());
        Assert.Equal("GET /api/status", health["endpoints"]!["status"]!.GetValue<string>());
    }
}
