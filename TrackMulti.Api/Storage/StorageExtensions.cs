using Amazon;
using Amazon.S3;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace TrackMulti.Api.Storage;

public static class StorageExtensions
{
    /// <summary>The S3 client, the upload pipeline, the upload queue and the uploader.</summary>
    public static IHostApplicationBuilder AddBatchStorage(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<S3Options>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<UploadOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();

        builder.Services.AddSingleton<IAmazonS3>(sp => new AmazonS3Client(CreateS3Config(sp.GetRequiredService<IOptions<S3Options>>().Value)));
        builder.Services.AddSingleton<IBatchStore, S3BatchStore>();
        builder.Services.AddSingleton<UploadQueue>();
        // Singletons: AddCheck<T> alone builds a new check per run, which would empty the probe's cache every time.
        builder.Services.AddSingleton<BucketReadinessCheck>();
        builder.Services.AddHealthChecks().AddCheck<BucketReadinessCheck>(BucketReadinessCheck.Name);

        builder.Services.AddResiliencePipeline(BatchUploader.PipelineName, (pipeline, context) =>
        {
            var upload = context.ServiceProvider.GetRequiredService<IOptions<UploadOptions>>().Value;
            if (upload.Retries > 0)
            {
                pipeline.AddRetry(new RetryStrategyOptions
                {
                    ShouldHandle = new PredicateBuilder().Handle<Exception>(S3Faults.IsTransient),
                    MaxRetryAttempts = upload.Retries,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = upload.RetryBaseDelay,
                });
            }
            // Inside the retry: each attempt gets its own timeout. The key is fixed, so an attempt that timed out
            // after S3 stored the object is simply overwritten by the retry with identical bytes.
            pipeline.AddTimeout(new TimeoutStrategyOptions { Timeout = upload.AttemptTimeout });
        });

        // Registered before the writer on purpose: hosted services stop in reverse order, so the writer seals its last
        // batch first and the uploader then gets the rest of the shutdown timeout to upload it.
        builder.Services.AddHostedService<BatchUploader>();
        return builder;
    }

    public static AmazonS3Config CreateS3Config(S3Options options)
    {
        var config = new AmazonS3Config
        {
            RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region),
            // Polly owns retrying, so attempt counts are exact and backoff is in one place.
            MaxErrorRetry = 0,
            MaxStaleConnectionRetries = 0,
        };

        if (options.UsesCustomEndpoint)
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region;
            // Emulators serve buckets by path, not by virtual host.
            config.ForcePathStyle = true;
        }
        return config;
    }
}
