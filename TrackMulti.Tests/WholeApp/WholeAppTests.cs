using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.WholeApp;

/// <summary>The stack as `dotnet run --project TrackMulti.AppHost` starts it, in s3rver mode.</summary>
[Collection(WholeAppCollection.Name)]
public sealed class WholeAppTests(WholeAppFixture fixture)
{
    private static JsonObject Click(int counter, string run) => new()
    {
        ["trafficType"] = "user",
        ["name"] = "button_click",
        ["value"] = counter,
        ["properties"] = new JsonObject { ["counter"] = counter, ["run"] = run, ["page"] = "/" },
    };

    private static async Task<JsonObject> PostAsync(HttpClient http, string path, JsonObject? body = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Add("X-TrackMulti-Page", "1"); // as the page's scripts send it
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {text}");
        return Assert.IsType<JsonObject>(JsonNode.Parse(text));
    }

    [Fact]
    public async Task A_flush_through_the_Web_without_the_pages_header_is_told_what_is_missing()
    {
        using var web = fixture.App.CreateHttpClient("web");

        using var response = await web.PostAsync("/api/flush", null); // the seed's habit: curl -X POST …/api/flush

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = Assert.IsType<JsonObject>(JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        Assert.Equal("urn:trackmulti:problem:missing-page-header", problem["type"]!.GetValue<string>());
        Assert.Contains("X-TrackMulti-Page: 1", problem["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Events_sent_through_the_web_origin_land_in_the_bucket_line_for_line()
    {
        var run = Guid.NewGuid().ToString("N");
        using var web = fixture.App.CreateHttpClient("web");
        var sent = Enumerable.Range(1, WholeAppFixture.BatchSize + 2).Select(n => Click(n, run)).ToList();

        var responses = new List<JsonObject>();
        foreach (var evt in sent)
        {
            responses.Add(await PostAsync(web, "/api/track", evt));
        }
        var flush = await PostAsync(web, "/api/flush");

        // The batch-size event names the batch it sealed; the flush names the rest.
        var sealedKey = responses.Select(r => r["flushed"]?["filename"]?.GetValue<string>()).OfType<string>().Single();
        Assert.Equal(2, flush["flushed"]!.GetValue<int>());
        Assert.Equal(WholeAppFixture.Bucket, flush["bucket"]!.GetValue<string>());

        using var s3 = fixture.CreateS3Client();
        var objects = (await StoredObject.ReadAllAsync(s3, WholeAppFixture.Bucket))
            .Where(o => o.Key == sealedKey || o.Key == flush["filename"]!.GetValue<string>())
            .ToList();
        Assert.Equal(2, objects.Count);
        Assert.All(objects, o => Assert.Equal("application/x-ndjson", o.ContentType));

        var lines = objects.SelectMany(o => o.Lines()).ToList();
        Assert.Equal(sent.Count, lines.Count);
        for (var i = 0; i < sent.Count; i++)
        {
            Assert.NotNull(lines[i]["receivedAt"]);
            lines[i].Remove("receivedAt");
            Assert.True(JsonNode.DeepEquals(sent[i], lines[i]), $"line {i}: {lines[i].ToJsonString()}");
        }
    }

    [Fact]
    public async Task The_web_forwards_only_the_pages_calls_and_a_flush_only_with_the_pages_header()
    {
        using var web = fixture.App.CreateHttpClient("web");

        using (var formFlush = await web.PostAsync("/api/flush", new FormUrlEncodedContent([])))
        {
            Assert.Equal(HttpStatusCode.BadRequest, formFlush.StatusCode); // what another site's form could send: not forwarded
        }
        using (var other = await web.GetAsync("/api/anything-else"))
        {
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        }
        using (var status = await web.GetAsync("/api/status"))
        {
            Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        }
        // A key sent by the browser is dropped; the Web's own key still gets the event in.
        using var track = new HttpRequestMessage(HttpMethod.Post, "/api/track") { Content = JsonContent.Create(new JsonObject { ["name"] = "spoofed" }) };
        track.Headers.Add("X-Api-Key", "made-up");
        using var tracked = await web.SendAsync(track);
        Assert.Equal(HttpStatusCode.OK, tracked.StatusCode);
        Assert.Equal(1, (await PostAsync(web, "/api/flush"))["flushed"]!.GetValue<int>()); // with the header: forwarded
    }

    [Fact]
    public async Task The_Api_reports_the_bucket_the_AppHost_created_and_its_batch_size()
    {
        using var api = fixture.App.CreateHttpClient("api");

        var status = Assert.IsType<JsonObject>(await api.GetFromJsonAsync<JsonNode>("/api/status"));

        Assert.Equal(WholeAppFixture.Bucket, status["s3Bucket"]!.GetValue<string>());
        Assert.Equal(WholeAppFixture.BatchSize, status["maxBatchSize"]!.GetValue<int>());
        using var s3 = fixture.CreateS3Client();
        var head = await s3.HeadBucketAsync(new Amazon.S3.Model.HeadBucketRequest { BucketName = WholeAppFixture.Bucket });
        Assert.Equal(HttpStatusCode.OK, head.HttpStatusCode);
        Assert.True(Directory.Exists(Path.Combine(fixture.S3rverDataDirectory, WholeAppFixture.Bucket)));
    }

    [Fact]
    public async Task Every_resource_is_healthy_once_started()
    {
        foreach (var resource in new[] { "s3", "api", "web" })
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
        }
        // Health checks keep running after start: the bucket check must stay healthy once the bucket exists.
        var checks = fixture.App.Services.GetRequiredService<HealthCheckService>();
        var report = await checks.CheckHealthAsync(check => check.Name == "s3-bucket");
        Assert.Equal(HealthStatus.Healthy, Assert.Single(report.Entries).Value.Status);
    }

    [Fact]
    public async Task The_web_serves_the_seeds_page_and_forwards_bad_input_errors_unchanged()
    {
        using var web = fixture.App.CreateHttpClient("web");

        var page = await web.GetStringAsync("/");
        Assert.Contains("Send Track Event", page);
        Assert.Contains("id=\"log\"", page);

        using var bad = await web.PostAsync("/api/track", new StringContent("{\"value\":1}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        Assert.Contains("'name' is required", await bad.Content.ReadAsStringAsync());
    }
}
