using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// The Api run alone (`dotnet TrackMulti.Api.dll`) with the seed's variables against a real S3 emulator:
/// the seed's contract, checked by reading every object back.
/// </summary>
public sealed class ApiAgainstS3rverTests : IAsyncLifetime
{
    private const string Bucket = "seed-bucket";
    private S3rverBucket _bucket = null!;
    private ApiProcess _api = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.StartAsync(Bucket);
        _api = await _bucket.StartApiAsync(("BATCH_SIZE", "100"), ("S3_HEALTH_CACHE_SECONDS", "0.2"));
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

    [Theory]
    [InlineData("{\"name\": \"button_click\", ", HttpStatusCode.BadRequest, "not valid JSON")]
    [InlineData("{\"trafficType\":\"user\",\"value\":1}", HttpStatusCode.BadRequest, "'name' is required")]
    [InlineData("[]", HttpStatusCode.BadRequest, "JSON object")]
    [InlineData("{\"name\":\"a\",\"name\":\"b\"}", HttpStatusCode.BadRequest, "not valid JSON")]
    [InlineData("{\"name\":\"a\",\"value\":1e400}", HttpStatusCode.BadRequest, "finite number")]
    public async Task Bad_input_gets_a_problem_response_and_queues_nothing(string body, HttpStatusCode expected, string message)
    {
        await TrackAsync(SeedEvent(1, "before"));
        var before = await _api.StatusAsync();

        using var response = await _api.Http.PostAsync("/api/track", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(message, await response.Content.ReadAsStringAsync());
        var after = await _api.StatusAsync();
        Assert.Equal(before["pendingEvents"]!.GetValue<int>(), after["pendingEvents"]!.GetValue<int>());
        Assert.Equal(before["batchSize"]!.GetValue<int>(), after["batchSize"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_body_over_64_KiB_is_refused_with_413()
    {
        var huge = new JsonObject { ["name"] = "big", ["properties"] = new JsonObject { ["blob"] = new string('x', 70 * 1024) } };

        using var response = await _api.Http.PostAsJsonAsync("/api/track", huge);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, (await _api.StatusAsync())["pendingEvents"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_body_that_is_not_JSON_is_refused_with_415()
    {
        using var response = await _api.Http.PostAsync("/api/track", new StringContent("name=button_click", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal(0, (await _api.StatusAsync())["pendingEvents"]!.GetValue<int>());
    }

    [Fact]
    public async Task While_S3_is_down_a_flush_fails_loudly_and_nothing_is_lost_once_it_is_back()
    {
        var run = Guid.NewGuid().ToString("N");
        await TrackAsync(SeedEvent(1, run));
        await _bucket.S3.StopAsync();

        await TrackAsync(SeedEvent(2, run));
        using var failed = await _api.Http.PostAsync("/api/flush", null);
        var problem = Assert.IsType<JsonObject>(await failed.Content.ReadFromJsonAsync<JsonNode>());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.False(problem["success"]!.GetValue<bool>());
        Assert.Equal(2, problem["flushed"]!.GetValue<int>());
        var key = problem["filename"]!.GetValue<string>();
        var status = await _api.StatusAsync();
        Assert.Equal(2, status["pendingEvents"]!.GetValue<int>());
        Assert.True(status["consecutiveFailures"]!.GetValue<int>() >= 1);

        await TrackAsync(SeedEvent(3, run));
        await _bucket.S3.StartAgainAsync();
        using var recovered = await _api.Http.PostAsync("/api/flush", null);
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);

        using var s3 = _bucket.S3.CreateClient();
        var objects = await StoredObject.ReadAllAsync(s3, Bucket);
        Assert.Equal(key, objects[0].Key);
        Assert.Equal([1, 2, 3], objects.SelectMany(o => o.Lines()).Select(l => l["value"]!.GetValue<int>()));
        Assert.Equal(0, (await _api.StatusAsync())["pendingEvents"]!.GetValue<int>());
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
    public async Task Readiness_fails_while_S3_is_unreachable_and_recovers_after_while_liveness_stays_up()
    {
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync("/ready"));

        await _bucket.S3.StopAsync();
        Assert.True(await EventuallyAsync(async () => await StatusOfAsync("/ready") == HttpStatusCode.ServiceUnavailable));
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync("/alive"));
        using (var health = await _api.Http.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            var body = Assert.IsType<JsonObject>(await health.Content.ReadFromJsonAsync<JsonNode>());
            Assert.Equal("Unhealthy", body["checks"]!["s3-bucket"]!.GetValue<string>());
            Assert.Equal("Healthy", body["checks"]!["spool-writable"]!.GetValue<string>());
            Assert.Equal("Harness FME + S3 Event Batching Server", body["service"]!.GetValue<string>());
        }

        await _bucket.S3.StartAgainAsync();
        Assert.True(await EventuallyAsync(async () => await StatusOfAsync("/ready") == HttpStatusCode.OK));
    }

    private async Task<HttpStatusCode> StatusOfAsync(string path)
    {
        using var response = await _api.Http.GetAsync(path);
        return response.StatusCode;
    }

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition())
            {
                return true;
            }
            await Task.Delay(100);
        }
        return false;
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
