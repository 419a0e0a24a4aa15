using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary><c>POST /api/batch</c> against real S3 (s3rver): what lands, what it answers, how it is limited.</summary>
public sealed class BatchApiTests : IAsyncLifetime
{
    private S3rverBucket _bucket = null!;

    public async Task InitializeAsync() => _bucket = await S3rverBucket.CreateAsync("batch-api");

    public async Task DisposeAsync() => await _bucket.DisposeAsync();

    /// <summary>A batch's events (the OpenAPI tests check the document takes them too, as an array and as NDJSON).</summary>
    internal static readonly string[] Events =
    [
        """{"trafficType":"User","name":"b1","key":" k1 ","value":1.50,"properties":{"i":1,"s":"x"}}""",
        """{"name":"b2","value":null,"extra":{"kept":true}}""",
        """{"name":"b3","properties":null}""",
    ];

    /// <summary>Each event as the Api stores it (the same rules as for one tracked event), with the request's receivedAt.</summary>
    private static readonly string[] Stored =
    [
        """{"trafficType":"user","name":"b1","key":"k1","value":1.50,"properties":{"i":1,"s":"x"},"receivedAt":"{0}"}""",
        """{"trafficType":"user","name":"b2","value":null,"receivedAt":"{0}","extra":{"kept":true}}""",
        """{"trafficType":"user","name":"b3","properties":null,"receivedAt":"{0}"}""",
    ];

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/x-ndjson")]
    public async Task A_batch_lands_byte_for_byte_as_its_events_would_one_by_one_and_the_answer_names_it(string contentType)
    {
        await using var api = await ApiHost.StartAsync(_bucket, ("BATCH_SIZE", "100"));
        var body = contentType == "application/json" ? "[" + string.Join(",", Events) + "]" : string.Join("\n", Events) + "\n";

        using var response = await api.Http.PostAsync("/api/batch", new StringContent(body, Encoding.UTF8, contentType));
        var answer = await response.Content.ReadFromJsonAsync<JsonObject>();
        using var flush = await api.Http.PostAsync("/api/flush", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(answer!["success"]!.GetValue<bool>());
        Assert.Equal(3, answer["accepted"]!.GetValue<int>());
        Assert.Equal(3, answer["batchSize"]!.GetValue<int>());
        Assert.Empty(answer["flushed"]!.AsArray());
        var stored = Assert.Single(await _bucket.ObjectsAsync());
        var receivedAt = stored.Lines()[0]["receivedAt"]!.GetValue<string>();
        Assert.Equal(string.Concat(Stored.Select(line => line.Replace("{0}", receivedAt) + "\n")), stored.Text);
    }

    [Fact]
    public async Task A_batch_that_fills_the_open_batch_seals_it_whole_and_names_every_batch_it_sealed()
    {
        await using var api = await ApiHost.StartAsync(_bucket, ("BATCH_SIZE", "5"));
        await PostAsync(api, Enumerable.Range(0, 3).Select(n => $"a{n}"));

        // 3 open + 4 would pass 5: the open batch is sealed first, so the request's events stay together.
        var answer = await PostAsync(api, Enumerable.Range(0, 4).Select(n => $"b{n}"));
        var big = await PostAsync(api, Enumerable.Range(0, 7).Select(n => $"c{n}"));
        using var flush = await api.Http.PostAsync("/api/flush", null);

        var flushed = answer["flushed"]!.AsArray().Select(f => f!["flushed"]!.GetValue<int>());
        Assert.Equal([3], flushed);
        Assert.Equal(4, answer["batchSize"]!.GetValue<int>());
        Assert.Equal([4, 7], big["flushed"]!.AsArray().Select(f => f!["flushed"]!.GetValue<int>()));
        var objects = await _bucket.ObjectsAsync();
        Assert.Equal([3, 4, 7], objects.Select(o => o.Lines().Count));
        Assert.All(objects, o => Assert.Single(o.Lines().Select(l => l["name"]!.GetValue<string>()[0]).Distinct()));
    }

    [Fact]
    public async Task The_rate_limit_counts_events_not_requests()
    {
        await using var api = await ApiHost.StartAsync(_bucket, ("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "30"));

        var first = await PostRawAsync(api, Enumerable.Range(0, 25).Select(n => $"r{n}"));
        var second = await PostRawAsync(api, Enumerable.Range(0, 10).Select(n => $"s{n}"));
        var over = await PostRawAsync(api, Enumerable.Range(0, 31).Select(n => $"t{n}"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.True(second.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, over.StatusCode); // more than a client may ever send at once
        Assert.Contains("RATE_LIMIT_BURST", await over.Content.ReadAsStringAsync());
    }

    private static async Task<HttpResponseMessage> PostRawAsync(ApiHost api, IEnumerable<string> names) =>
        await api.Http.PostAsJsonAsync("/api/batch", names.Select(name => new JsonObject { ["name"] = name }).ToArray());

    private static async Task<JsonObject> PostAsync(ApiHost api, IEnumerable<string> names)
    {
        using var response = await PostRawAsync(api, names);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }
}
