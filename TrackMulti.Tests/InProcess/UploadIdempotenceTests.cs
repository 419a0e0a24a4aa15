using Amazon.Runtime;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Sinks;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Tests.Infrastructure;
using TrackMulti.Tests.HostedServices;
using StoredObject = TrackMulti.Tests.Infrastructure.StoredObject;

namespace TrackMulti.Tests.InProcess;

/// <summary>The ambiguous failure: S3 stored the object but the answer came too late. The retry must not duplicate it.</summary>
public sealed class UploadIdempotenceTests
{
    [Fact]
    public async Task An_attempt_that_times_out_after_S3_stored_the_object_is_retried_to_the_same_key_and_leaves_one_object()
    {
        await using var s3rver = await S3rverProcess.StartAsync();
        await s3rver.CreateBucketAsync("idempotence");
        var slowFirstPut = new SlowFirstPutHandler(TimeSpan.FromSeconds(5));

        await using var host = new BatchingHost(
            new()
            {
                ["S3_BUCKET_NAME"] = "idempotence",
                ["AWS_ENDPOINT_URL_S3"] = s3rver.Url,
                ["UPLOAD_ATTEMPT_TIMEOUT_SECONDS"] = "1",
                ["UPLOAD_RETRIES"] = "2",
            },
            configure: services => services.AddSingleton<IAmazonS3>(sp =>
            {
                // The Api's own S3 settings, with the fault between the SDK and the wire.
                var config = S3Extensions.CreateS3Config(sp.GetRequiredService<IOptions<S3Options>>().Value);
                config.HttpClientFactory = new HandlerHttpClientFactory(slowFirstPut);
                return new AmazonS3Client(new BasicAWSCredentials(S3rverProcess.AccessKey, S3rverProcess.AccessKey), config);
            }));
        await host.StartAsync();

        var batch = (await host.AppendAsync(3))[2].Sealed!;
        var drained = await host.Uploads.DrainAsync(CancellationToken.None);

        Assert.True(drained.Succeeded, drained.Error);
        Assert.Equal(2, slowFirstPut.Puts.Count);
        Assert.All(slowFirstPut.Puts, path => Assert.EndsWith(Uri.EscapeDataString(batch.Key).Replace("%2F", "/"), path));
        using var client = s3rver.CreateClient();
        var stored = Assert.Single(await StoredObject.ReadAllAsync(client, "idempotence"));
        Assert.Equal(batch.Key, stored.Key);
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
