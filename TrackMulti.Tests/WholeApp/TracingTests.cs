using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting.Testing;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.WholeApp;

/// <summary>Traces as the dashboard shows them, read back from its telemetry HTTP API.</summary>
[Collection(WholeAppCollection.Name)]
public sealed class TracingTests(WholeAppFixture fixture)
{
    [Fact]
    public async Task The_upload_span_links_to_the_track_request_that_fed_it_and_holds_the_S3_PUT()
    {
        // A click's trace, started by "the browser": the Web forwards it to the Api with the same trace id.
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        using var web = fixture.App.CreateHttpClient("web");
        using var track = new HttpRequestMessage(HttpMethod.Post, "/api/track") { Content = JsonContent.Create(new JsonObject { ["name"] = "traced_click" }) };
        track.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
        (await web.SendAsync(track)).EnsureSuccessStatusCode();
        using var flushRequest = new HttpRequestMessage(HttpMethod.Post, "/api/flush");
        flushRequest.Headers.Add("X-TrackMulti-Page", "1");
        var flush = await (await web.SendAsync(flushRequest)).Content.ReadFromJsonAsync<JsonObject>();
        var key = flush!["filename"]!.GetValue<string>();

        using var dashboard = fixture.CreateDashboardClient();
        // The dashboard has a span a moment after it ended; each look reads every span of the Api, so not too often.
        var (trackSpan, uploadSpan, putSpan) = await Poll.UntilAsync(async () =>
        {
            var spans = await SpansAsync(dashboard, "api");
            var track = spans.FirstOrDefault(s => Str(s, "traceId") == traceId && Str(s, "name") == "POST /api/track");
            var upload = spans.FirstOrDefault(s => Str(s, "name") == "upload batch" && Attribute(s, "aws.s3.key") == key);
            var put = upload is null ? null : spans.FirstOrDefault(s => Str(s, "parentSpanId") == Str(upload, "spanId") && Str(s, "name") == "PUT");
            return (track, upload, put);
        }, found => found.put is not null,
            found => $"no PUT span under the upload of {key} yet (the track span {(found.track is null ? "missing" : "found")}, the upload span {(found.upload is null ? "missing" : "found")})",
            budget: TimeSpan.FromSeconds(60), every: TimeSpan.FromMilliseconds(500));

        Assert.NotNull(trackSpan);
        Assert.NotNull(uploadSpan);
        Assert.NotEqual(traceId, Str(uploadSpan, "traceId")); // the upload is its own trace…
        var links = uploadSpan["links"]!.AsArray().Select(l => (Str(l!.AsObject(), "traceId"), Str(l!.AsObject(), "spanId")));
        Assert.Contains((traceId, Str(trackSpan, "spanId")), links); // …linked to the request that fed it
        Assert.Equal(WholeAppFixture.Bucket, Attribute(uploadSpan, "aws.s3.bucket"));
        Assert.Equal("1", Attribute(uploadSpan, "trackmulti.batch.events"));
        Assert.NotNull(putSpan); // the SDK's HTTP call beneath it
        Assert.EndsWith(key, Attribute(putSpan, "url.full"));
    }

    private static async Task<List<JsonObject>> SpansAsync(HttpClient dashboard, string resource)
    {
        var body = await dashboard.GetFromJsonAsync<JsonObject>($"/api/telemetry/spans?resource={resource}");
        return [.. body!["data"]!["resourceSpans"]!.AsArray()
            .SelectMany(r => r!["scopeSpans"]!.AsArray())
            .SelectMany(s => s!["spans"]!.AsArray())
            .Select(s => s!.AsObject())];
    }

    private static string? Str(JsonObject node, string name) => node[name]?.GetValue<string>();

    private static string? Attribute(JsonObject span, string key) =>
        span["attributes"]?.AsArray().FirstOrDefault(a => Str(a!.AsObject(), "key") == key)?["value"]?.AsObject()
            .Select(v => v.Value?.ToString()).FirstOrDefault();
}
