using Amazon;
using Amazon.S3;
using Microsoft.Extensions.Options;
using Polly;

namespace TrackMulti.Api.Sinks.S3;

public static class S3Extensions
{
    /// <summary>The S3 client, the upload pipeline, the bucket's readiness check and catalog, and the S3 sink.</summary>
    public static IHostApplicationBuilder AddS3Sink(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<S3Options>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<UploadOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();

        builder.Services.AddSingleton<IAmazonS3>(sp => new AmazonS3Client(CreateS3Config(sp.GetRequiredService<IOptions<S3Options>>().Value)));
        builder.Services.AddSingleton<IObjectStore, S3ObjectStore>();
        builder.Services.AddSingleton<AthenaTables>();
        builder.Services.AddSingleton<S3Catalog>();
        // Singletons: AddCheck<T> alone builds a new check per run, which would empty the probe's cache every time.
        builder.Services.AddSingleton<BucketReadinessCheck>();
        builder.Services.AddHealthChecks().AddCheck<BucketReadinessCheck>(BucketReadinessCheck.Name);

        builder.Services.AddResiliencePipeline(S3Sink.PipelineName, (pipeline, context) =>
        {
            var upload = context.ServiceProvider.GetRequiredService<IOptions<UploadOptions>>().Value;
            // The key is fixed, so an attempt that timed out after S3 stored the object is simply overwritten by the
            // retry with identical bytes.
            pipeline.AddDeliveryAttempts(upload.Retries, upload.RetryBaseDelay, upload.AttemptTimeout, S3Faults.IsTransient);
        });

        builder.AddSink<S3Sink>();
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
