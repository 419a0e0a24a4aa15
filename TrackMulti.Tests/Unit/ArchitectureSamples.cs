// Types for ArchitectureTests.Every_kind_of_reference_is_seen: each folder names Target's types in one way only.
#pragma warning disable CA1822, IDE0051

namespace TrackMulti.Tests.Unit.Samples.Target
{
    public class Thing : Exception
    {
        public static int Count;

        public static void Do()
        {
        }
    }

    public interface IThing;

    [AttributeUsage(AttributeTargets.All)]
    public sealed class ThingAttribute : Attribute;

    public enum Kind
    {
        One,
    }
}

namespace TrackMulti.Tests.Unit.Samples
{
    [AttributeUsage(AttributeTargets.Class)]
    public sealed class TypesAttribute(params Type[] types) : Attribute
    {
        public IReadOnlyList<Type> Types { get; } = types;

        public Type? Extra;
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class ValueAttribute(object value) : Attribute
    {
        public object Value { get; } = value;
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsAttributeArray
{
    [Types(typeof(string), typeof(Target.IThing))]
    public class Marked;
}

namespace TrackMulti.Tests.Unit.Samples.AsAttributeField
{
    [Types(Extra = typeof(Target.IThing))]
    public class Marked;
}

namespace TrackMulti.Tests.Unit.Samples.AsAttributeObject
{
    [Value(typeof(Target.IThing))]
    public class Marked;
}

namespace TrackMulti.Tests.Unit.Samples.AsAttributeEnum
{
    [Value(Target.Kind.One)]
    public class Marked;
}

namespace TrackMulti.Tests.Unit.Samples.AsReturnAttribute
{
    public static class Giver
    {
        [return: Target.Thing]
        public static int Give() => 1;
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsConstraint
{
    public class Box<T> where T : Target.IThing;
}

namespace TrackMulti.Tests.Unit.Samples.AsMethodConstraint
{
    public static class Counter
    {
        public static int Count<T>(IEnumerable<T> items) where T : Target.IThing => items.Count();
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsBase
{
    public class Derived : Target.Thing;
}

namespace TrackMulti.Tests.Unit.Samples.AsInterface
{
    public class Implementer : Target.IThing;
}

namespace TrackMulti.Tests.Unit.Samples.AsAttribute
{
    [Target.Thing]
    public class Marked;
}

namespace TrackMulti.Tests.Unit.Samples.AsField
{
    public class Holder
    {
        public Target.Thing? Thing;
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsProperty
{
    public class Holder
    {
        public Target.Thing? Thing { get; set; }
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsParameter
{
    public static class Taker
    {
        public static void Take(Target.Thing thing) => GC.KeepAlive(thing);
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsReturn
{
    public static class Giver
    {
        public static Target.Thing? Give() => null;
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsGenericArgument
{
    public static class Giver
    {
        public static int Count(IEnumerable<object> items) => items.OfType<Target.IThing>().Count();
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsMethodCall
{
    public static class Caller
    {
        public static void Call() => Target.Thing.Do();
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsNew
{
    public static class Maker
    {
        public static object Make() => new Target.Thing();
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsCatch
{
    public static class Catcher
    {
        public static bool Try(Action action)
        {
            try
            {
                action();
                return true;
            }
            catch (Target.Thing)
            {
                return false;
            }
        }
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsLocal
{
    public static class Keeper
    {
        public static string Describe(object item)
        {
            var thing = item as Target.IThing;
            return thing?.ToString() ?? "";
        }
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsTypeOf
{
    public static class Namer
    {
        public static Type Of() => typeof(Target.IThing);
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsLambda
{
    public static class Later
    {
        public static Func<object> Make() => () => new Target.Thing();
    }
}

namespace TrackMulti.Tests.Unit.Samples.AsStateMachine
{
    public static class Later
    {
        public static async Task<int> CountAsync()
        {
            await Task.Yield();
            return Target.Thing.Count;
        }
    }
}
