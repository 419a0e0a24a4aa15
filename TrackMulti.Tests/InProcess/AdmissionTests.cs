using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>What the Api lets in: valid events at the rules' edges land unchanged, the rate limit, CORS.</summary>
public sealed class AdmissionTests : IAsyncLifetime
{
    private S3rverBucket _bucket = null!;

    public async Task InitializeAsync() => _bucket = await S3rverBucket.CreateAsync("admission");

    public async Task DisposeAsync() => await _bucket.DisposeAsync();

    private static readonly string ThreeHundredProperties = "{" + string.Join(",", Enumerable.Range(0, 300).Select(i => $"\"p{i}\":{i}")) + "}";

    /// <summary>Valid events, each at a rule's edge (the OpenAPI tests check the document takes them too).</summary>
    internal static readonly string[] EdgeEvents =
    [
        $$"""{"trafficType":"user","name":"{{new string('a', 80)}}","value":1}""",
        $$$"""{"trafficType":"user","name":"three_hundred","properties":{{{ThreeHundredProperties}}}}""",
        """{"trafficType":"user","name":"null_value","value":null}""",
        $$$"""{"trafficType":"account","name":"A1-b_c.d:e","key":"{{{new string('k', 250)}}}","value":-0.5,"properties":{"s":"x","n":1.25,"b":true,"z":null}}""",
        """{"trafficType":"user","name":"unknown_field","campaign":{"id":3,"tags":["a"]}}""",
        // properties of exactly 32 KB as FME counts them: 1024 + 2 × 1 ("s") + 2 × 15871
        $$$"""{"trafficType":"user","name":"max_properties_size","properties":{"s":"{{{new string('x', 15871)}}}"}}""",
    ];

    [Fact]
    public async Task Events_exactly_at_the_rules_edges_are_accepted_and_land_byte_for_byte_as_sent()
    {
        await using var api = await ApiHost.StartAsync(_bucket);
        var valid = EdgeEvents;

        foreach (var body in valid)
        {
            using var response = await api.Http.PostAsync("/api/track", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{body[..Math.Min(80, body.Length)]}: {await response.Content.ReadAsStringAsync()}");
        }
        using (var flush = await api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }

        var lines = Encoding.UTF8.GetString(Assert.Single(await _bucket.ObjectsAsync()).Content).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(valid.Length, lines.Length);
        for (var i = 0; i < valid.Length; i++)
        {
            // The stored line is the request body with the server's receivedAt placed before unknown fields.
            var stored = JsonNode.Parse(lines[i])!.AsObject();
            Assert.NotNull(stored["receivedAt"]);
            stored.Remove("receivedAt");
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(valid[i]), stored), lines[i]);
        }
        Assert.Contains("\"value\":null", lines[2]);
        Assert.Contains("\"value\":-0.5", lines[3]);
    }

    [Fact]
    public async Task A_burst_over_the_rate_limit_gets_429_with_Retry_After_even_with_made_up_keys_and_every_admitted_event_is_stored()
    {
        await using var api = await ApiHost.StartAsync(_bucket, ("RATE_LIMIT_PER_SECOND", "5"), ("RATE_LIMIT_BURST", "10"));

        var admitted = new List<int>();
        var limited = new List<HttpResponseMessage>();
        for (var n = 0; n < 30; n++)
        {
            // A different made-up key on every request must not buy a fresh bucket.
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/track") { Content = JsonContent.Create(new JsonObject { ["name"] = "burst", ["value"] = n }) };
            request.Headers.Add("X-Api-Key", Guid.NewGuid().ToString());
            var response = await api.Http.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                admitted.Add(n);
                response.Dispose();
            }
            else
            {
                limited.Add(response);
            }
        }

        Assert.InRange(admitted.Count, 10, 15); // the burst, plus what refilled meanwhile
        Assert.NotEmpty(limited);
        foreach (var response in limited)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
            var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
            Assert.Equal("urn:trackmulti:problem:rate-limited", problem!["type"]!.GetValue<string>());
            response.Dispose();
        }

        using (var flush = await api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }
        Assert.Equal(admitted, (await _bucket.LinesAsync()).Select(l => l["value"]!.GetValue<int>()));
    }

    [Fact]
    public async Task CORS_is_closed_unless_an_origin_is_listed()
    {
        await using (var closed = await ApiHost.StartAsync(_bucket))
        {
            using var preflight = Preflight("https://shop.example");
            using var response = await closed.Http.SendAsync(preflight);
            Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        }

        await using var open = await ApiHost.StartAsync(_bucket, ("CORS_ALLOWED_ORIGINS", "https://shop.example"));
        using (var allowed = await open.Http.SendAsync(Preflight("https://shop.example")))
        {
            Assert.Equal("https://shop.example", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        }
        using var other = await open.Http.SendAsync(Preflight("https://evil.example"));
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
    }

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/api/track");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type");
        return request;
    }
}
