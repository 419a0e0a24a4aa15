using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// The Api while S3 is unreachable: an s3rver of the test's own, stopped and started again on the same folder.
/// Flushes fail loudly, readiness says so, the spool bound answers 503, and every acknowledged event lands once S3 is back.
/// </summary>
public sealed class S3OutageTests : IAsyncLifetime
{
    private S3rverBucket _bucket = null!;
    private ApiHost _api = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.StartWithOwnS3rverAsync("s3-outage");
        _api = await ApiHost.StartAsync(_bucket, ("BATCH_SIZE", "100"), ("S3_HEALTH_CACHE_SECONDS", "0.2"));
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
        ["properties"] = new JsonObject { ["counter"] = counter, ["run"] = run },
    };

    private async Task TrackAsync(JsonObject evt)
    {
        using var response = await _api.Http.PostAsJsonAsync("/api/track", evt);
        Assert.True(response.IsSuccessStatusCode, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{_api.Output}");
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
        var objects = await StoredObject.ReadAllAsync(s3, _bucket.Name);
        Assert.Equal(key, objects[0].Key);
        Assert.Equal([1, 2, 3], objects.SelectMany(o => o.Lines()).Select(l => l["value"]!.GetValue<int>()));
        Assert.Equal(0, (await _api.StatusAsync())["pendingEvents"]!.GetValue<int>());
    }

    [Fact]
    public async Task Readiness_fails_while_S3_is_unreachable_and_recovers_after_while_liveness_stays_up()
    {
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync("/ready"));

        await _bucket.S3.StopAsync();
        await Poll.UntilAsync(() => StatusOfAsync("/ready"), status => status == HttpStatusCode.ServiceUnavailable,
            status => $"/ready still answers {(int)status} with S3 stopped");
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
        await Poll.UntilAsync(() => StatusOfAsync("/ready"), status => status == HttpStatusCode.OK,
            status => $"/ready still answers {(int)status} with S3 started again");
    }

    private async Task<HttpStatusCode> StatusOfAsync(string path)
    {
        using var response = await _api.Http.GetAsync(path);
        return response.StatusCode;
    }

    [Fact]
    public async Task Past_the_spool_bound_track_answers_503_with_Retry_After_and_every_acknowledged_event_lands_later()
    {
        await _bucket.S3.StopAsync();
        // A second Api, with a small spool bound, in a spool folder of its own.
        await using var api = await ApiHost.StartAsync(_bucket,
            ("INSTANCE_ID", "bounded"), ("BATCH_MAX_AGE_SECONDS", "3600"), ("BATCH_SIZE", "5"), ("SPOOL_MAX_BYTES", "4096"));

        var acknowledged = new List<string>();
        HttpResponseMessage? refused = null;
        for (var n = 0; n < 200 && refused is null; n++)
        {
            var response = await api.Http.PostAsJsonAsync("/api/track", new JsonObject { ["name"] = "spool_bound", ["properties"] = new JsonObject { ["id"] = $"e{n}" } });
            if (response.StatusCode == HttpStatusCode.OK)
            {
                acknowledged.Add($"e{n}");
                response.Dispose();
            }
            else
            {
                refused = response;
            }
        }

        Assert.NotNull(refused);
        using (refused)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is missing");
            Assert.Contains("spool is full", await refused.Content.ReadAsStringAsync());
        }
        var status = await api.StatusAsync();
        Assert.Equal(acknowledged.Count, status["pendingEvents"]!.GetValue<int>());
        Assert.InRange(status["spooledBytes"]!.GetValue<long>(), 1, 4096);

        await _bucket.S3.StartAgainAsync();
        using var flush = await api.Http.PostAsync("/api/flush", null);
        Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        var stored = (await _bucket.LinesAsync()).GroupBy(l => l["properties"]!["id"]!.GetValue<string>()).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(acknowledged.Order(), stored.Keys.Order());
        Assert.All(stored.Values, count => Assert.Equal(1, count));
    }
}
