using Amazon.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TrackMulti.AppHost.S3;

/// <summary>The local S3 endpoints the stack can run against, each created with its bucket.</summary>
public static class S3EndpointExtensions
{
    public const string ResourceName = "s3";
    public const string EndpointName = "http";

    /// <summary>LocalStack's last community image before its images began to require an auth token.</summary>
    public const string LocalStackImage = "localstack/localstack";
    public const string LocalStackTag = "4.10.0";
    public const int LocalStackPort = 4566;

    /// <summary>s3rver accepts only this access key; the secret may be anything.</summary>
    public const string S3rverAccessKey = "S3RVER";

    /// <summary>
    /// Adds the S3 emulator the settings ask for and returns it, or null when the Api talks to real AWS.
    /// Emulators exist in run mode only: a published manifest never contains one.
    /// </summary>
    public static S3Emulator? AddS3Emulator(this IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        if (builder.ExecutionContext.IsPublishMode)
        {
            return null;
        }

        var mode = settings.Emulator == S3EmulatorMode.Auto
            ? ContainerRuntime.Answers(builder.Configuration, TimeSpan.FromSeconds(5)) ? S3EmulatorMode.LocalStack : S3EmulatorMode.S3rver
            : settings.Emulator;

        return mode switch
        {
            S3EmulatorMode.LocalStack => builder.AddLocalStack(settings),
            S3EmulatorMode.S3rver => builder.AddS3rver(settings),
            _ => null,
        };
    }

    private static S3Emulator AddS3rver(this IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        Directory.CreateDirectory(settings.S3rverDataDirectory);
        var script = Path.Combine(builder.AppHostDirectory, "node_modules", "s3rver", "bin", "s3rver.js");
        var s3 = builder.AddExecutable(ResourceName, "node", builder.AppHostDirectory)
            .WithHttpEndpoint(port: settings.S3EmulatorPort, name: EndpointName);
        var endpoint = s3.GetEndpoint(EndpointName);
        s3.WithArgs(context =>
            {
                context.Args.Add(script);
                context.Args.Add("--directory");
                context.Args.Add(settings.S3rverDataDirectory);
                context.Args.Add("--address");
                context.Args.Add("127.0.0.1");
                context.Args.Add("--port");
                context.Args.Add(endpoint.Property(EndpointProperty.TargetPort));
            })
            // Node 20's OpenSSL 3 rejects the MD5 s3rver uses for paged listings unless the legacy provider is on.
            .WithEnvironment("NODE_OPTIONS", "--openssl-legacy-provider");

        return builder.WithBucket(s3, settings, accessKey: S3rverAccessKey, secretKey: S3rverAccessKey);
    }

    private static S3Emulator AddLocalStack(this IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        var s3 = builder.AddContainer(ResourceName, LocalStackImage, LocalStackTag)
            .WithHttpEndpoint(port: settings.S3EmulatorPort, targetPort: LocalStackPort, name: EndpointName)
            .WithEnvironment("SERVICES", "s3")
            .WithEnvironment("AWS_DEFAULT_REGION", settings.Region)
            .WithHttpHealthCheck("/_localstack/health", endpointName: EndpointName);

        return builder.WithBucket(s3, settings, accessKey: "test", secretKey: "test");
    }

    private static S3Emulator WithBucket<T>(
        this IDistributedApplicationBuilder builder, IResourceBuilder<T> s3, AppHostSettings settings, string accessKey, string secretKey)
        where T : class, IResourceWithEndpoints
    {
        var endpoint = s3.GetEndpoint(EndpointName);
        var healthCheckKey = $"{ResourceName}-bucket";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            healthCheckKey,
            _ => new BucketHealthCheck(() => endpoint.Url, settings.Bucket, settings.Region, new BasicAWSCredentials(accessKey, secretKey)),
            failureStatus: null,
            tags: null));
        s3.WithHealthCheck(healthCheckKey);

        // Emulator credentials are fixed, well-known values, but they still travel as secret parameters.
        var accessKeyParameter = builder.AddParameter($"{ResourceName}-access-key", accessKey, secret: true);
        var secretKeyParameter = builder.AddParameter($"{ResourceName}-secret-key", secretKey, secret: true);
        return new S3Emulator(s3, endpoint, accessKeyParameter, secretKeyParameter);
    }
}

/// <summary>A running S3 emulator and what a client needs to reach it.</summary>
public sealed record S3Emulator(
    IResourceBuilder<IResourceWithEndpoints> Resource,
    EndpointReference Endpoint,
    IResourceBuilder<ParameterResource> AccessKey,
    IResourceBuilder<ParameterResource> SecretKey);
