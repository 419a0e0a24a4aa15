using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace TrackMulti.Tests.AppHost;

/// <summary>The app model the AppHost builds for each S3_EMULATOR mode. Nothing is started.</summary>
public sealed class AppModelTests
{
    private static async Task<IDistributedApplicationTestingBuilder> ModelAsync(params string[] args) =>
        await DistributedApplicationTestingBuilder.CreateAsync<Projects.TrackMulti_AppHost>(["PORT=", .. args]);

    private static T Resource<T>(IDistributedApplicationTestingBuilder builder, string name) where T : IResource =>
        Assert.IsAssignableFrom<T>(Assert.Single(builder.Resources, r => r.Name == name));

    // Publish-time evaluation turns references into manifest expressions ("{s3.bindings.http.url}"), which says
    // exactly what is wired to what without starting anything. Its replacement (ExecutionConfigurationBuilder)
    // needs a running app's services, hence the obsolete helpers here.
#pragma warning disable CS0618
    private static async Task<Dictionary<string, string>> ManifestEnvironmentAsync(IResourceWithEnvironment resource) =>
        await resource.GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);

    private static async Task<string[]> ManifestArgumentsAsync(IResourceWithArgs resource) =>
        await resource.GetArgumentValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618

    [Fact]
    public async Task LocalStack_mode_puts_a_pinned_LocalStack_container_on_port_4566_in_front_of_the_Api()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=localstack", "S3_BUCKET_NAME=model-bucket");

        var s3 = Resource<ContainerResource>(builder, "s3");
        var image = Assert.Single(s3.Annotations.OfType<ContainerImageAnnotation>());
        Assert.Equal("localstack/localstack", image.Image);
        Assert.Equal("4.10.0", image.Tag);
        var endpoint = Assert.Single(s3.Annotations.OfType<EndpointAnnotation>());
        Assert.Equal(4566, endpoint.TargetPort);
        Assert.Equal(4566, endpoint.Port); // `aws --endpoint-url http://localhost:4566` as with any LocalStack
        Assert.Equal("http", endpoint.UriScheme);
        Assert.Contains(s3.Annotations.OfType<HealthCheckAnnotation>(), h => h.Key == "s3-bucket");
        Assert.Contains(s3.Annotations.OfType<HealthCheckAnnotation>(), h => h.Key != "s3-bucket"); // /_localstack/health

        var api = Resource<ProjectResource>(builder, "api");
        Assert.Contains(api.Annotations.OfType<WaitAnnotation>(), w => w.Resource == s3);
        var env = await ManifestEnvironmentAsync(api);
        Assert.Equal("{s3.bindings.http.url}", env["AWS_ENDPOINT_URL_S3"]);
        Assert.Equal("{s3-access-key.value}", env["AWS_ACCESS_KEY_ID"]);
        Assert.Equal("{s3-secret-key.value}", env["AWS_SECRET_ACCESS_KEY"]);
        Assert.Equal("{s3-bucket-name.value}", env["S3_BUCKET_NAME"]);
        Assert.True(Resource<ParameterResource>(builder, "s3-access-key").Secret);
        Assert.True(Resource<ParameterResource>(builder, "s3-secret-key").Secret);
        Assert.Equal("model-bucket", await Resource<ParameterResource>(builder, "s3-bucket-name").GetValueAsync(CancellationToken.None));
    }

    [Fact]
    public async Task S3rver_mode_runs_the_npm_emulator_from_the_AppHost_on_a_browsable_folder()
    {
        var data = Path.Combine(Path.GetTempPath(), $"trackmulti-model-{Guid.NewGuid():N}");
        await using var builder = await ModelAsync("S3_EMULATOR=s3rver", $"S3RVER_DATA_DIR={data}");

        var s3 = Resource<ExecutableResource>(builder, "s3");
        Assert.Equal("node", s3.Command);
        var args = await ManifestArgumentsAsync(s3);
        Assert.EndsWith(Path.Combine("node_modules", "s3rver", "bin", "s3rver.js"), args[0]);
        Assert.Equal(data, args[Array.IndexOf(args, "--directory") + 1]);
        Assert.Equal("127.0.0.1", args[Array.IndexOf(args, "--address") + 1]);
        Assert.Contains(s3.Annotations.OfType<HealthCheckAnnotation>(), h => h.Key == "s3-bucket");

        var api = Resource<ProjectResource>(builder, "api");
        Assert.Contains(api.Annotations.OfType<WaitAnnotation>(), w => w.Resource == s3);
        Assert.Equal("{s3.bindings.http.url}", (await ManifestEnvironmentAsync(api))["AWS_ENDPOINT_URL_S3"]);
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task None_mode_has_no_emulator_and_lets_the_Api_use_real_AWS()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=none", "AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=");

        Assert.DoesNotContain(builder.Resources, r => r.Name == "s3");
        var env = await ManifestEnvironmentAsync(Resource<ProjectResource>(builder, "api"));
        Assert.False(env.ContainsKey("AWS_ENDPOINT_URL_S3"));
        Assert.False(env.ContainsKey("AWS_ACCESS_KEY_ID"));
        Assert.Equal("eu-west-1", await Resource<ParameterResource>(builder, "aws-region").GetValueAsync(CancellationToken.None));
    }

    [Fact]
    public async Task With_nothing_configured_the_defaults_are_the_documented_ones()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=s3rver", "S3_BUCKET_NAME=", "AWS_REGION=", "HARNESS_FME_API_KEY=");

        Assert.Equal("trackmulti-events", await Resource<ParameterResource>(builder, "s3-bucket-name").GetValueAsync(CancellationToken.None));
        Assert.Equal("us-east-1", await Resource<ParameterResource>(builder, "aws-region").GetValueAsync(CancellationToken.None));
        var fmeKey = Resource<ParameterResource>(builder, "fme-api-key");
        Assert.True(fmeKey.Secret);
        Assert.Equal("localhost", await fmeKey.GetValueAsync(CancellationToken.None));

        var web = Resource<ProjectResource>(builder, "web");
        Assert.Equal("{fme-api-key.value}", (await ManifestEnvironmentAsync(web))["HARNESS_FME_API_KEY"]);
        Assert.Contains(web.Annotations.OfType<WaitAnnotation>(), w => w.Resource.Name == "api");
    }

    [Fact]
    public async Task An_unknown_emulator_mode_is_refused_with_the_choices()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ModelAsync("S3_EMULATOR=minio"));

        Assert.Contains("auto, localstack, s3rver or none", error.ToString());
    }
}
