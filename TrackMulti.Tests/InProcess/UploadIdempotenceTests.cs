using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>The ambiguous failure: S3 stored the object but the answer came too late. The retry must not duplicate it.</summary>
public sealed class UploadIdempotenceTests
{
    [Fact]
    public async Task An_attempt_that_times_out_after_S3_stored_the_object_is_retried_to_the_same_key_and_leaves_one_object()
    {
        await using var bucket = await S3rverBucket.CreateAsync("idempotence");
        var slowFirstPut = new SlowFirstPutHandler(TimeSpan.FromSeconds(5));
        await using var api = await ApiHost.StartAsync(bucket, slowFirstPut,
            ("BATCH_SIZE", "3"), ("UPLOAD_ATTEMPT_TIMEOUT_SECONDS", "1"), ("UPLOAD_RETRIES", "2"));

        string? key = null;
        foreach (var value in new[] { 1, 2, 3 })
        {
            using var response = await api.Http.PostAsJsonAsync("/api/track", new JsonObject { ["name"] = "idempotence", ["value"] = value });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            key ??= (await response.Content.ReadFromJsonAsync<JsonObject>())!["flushed"]?["filename"]?.GetValue<string>();
        }
        using var flush = await api.Http.PostAsync("/api/flush", null);

        Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        Assert.NotNull(key);
        Assert.Equal(2, slowFirstPut.Puts.Count);
        Assert.All(slowFirstPut.Puts, path => Assert.EndsWith(Uri.EscapeDataString(key).Replace("%2F", "/"), path));
        var stored = Assert.Single(await bucket.ObjectsAsync());
        Assert.Equal(key, stored.Key);
        Assert.Equal([1, 2, 3], stored.Lines().Select(l => l["value"]!.GetValue<int>()));
    }

    /// <summary>Lets the first PUT reach S3, then sits on the answer longer than the attempt timeout.</summary>
    private sealed class SlowFirstPutHandler(TimeSpan delay) : DelegatingHandler(new SocketsHttpHandler())
    {
        public List<string> Puts { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method != HttpMethod.Put)
            {
                return await base.SendAsync(request, cancellationToken);
            }

            bool first;
            lock (Puts)
            {
                Puts.Add(request.RequestUri!.AbsolutePath);
                first = Puts.Count == 1;
            }
            var response = await base.SendAsync(request, cancellationToken);
            if (first)
            {
                Assert.True(response.IsSuccessStatusCode, $"the first PUT itself failed: {response.StatusCode}");
                await Task.Delay(delay, cancellationToken); // cancelled by the attempt timeout
            }
            return response;
        }
    }
}
